"""The data audit on real files: planted problems found, nothing on disk changed, exclusions honoured."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pytest

from bench.audit import PLANTS, plant_fixture, score
from cnnlib.audit import KINDS, audit_source, exclusions_for, read_exclusions, write_exclusions
from cnnlib.cli import main
from cnnlib.data import DataConfig, load_dataset
from cnnlib.errors import ConfigError, DataError
from cnnlib.training.request import resolve_defaults


def tree_digest(root: Path) -> dict[str, str]:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("planted")
    return root, plant_fixture(root, seed=0)


@pytest.fixture(scope="module")
def audited(planted: tuple[Path, dict]):
    root, _ = planted
    before = tree_digest(root)
    report = audit_source(str(root))
    assert tree_digest(root) == before, "the audit must never change the user's files"
    return report


def test_every_planted_copy_conflict_leak_and_poor_image_is_found_and_nothing_else(planted, audited) -> None:
    _, truth = planted
    scores = score(audited, truth)
    for kind in ("exact_duplicate", "near_duplicate", "label_conflict", "cross_split_copy", "low_quality",
                 "unreadable"):
        assert scores[kind]["recall"] == 1.0, (kind, scores[kind])
        assert scores[kind]["precision"] == 1.0, (kind, scores[kind])


def test_planted_label_flips_rank_as_suspected_mislabels(planted, audited) -> None:
    _, truth = planted
    mislabels = score(audited, truth)["suspected_mislabel"]
    assert mislabels["planted"] == PLANTS["suspected_mislabel"]
    assert mislabels["recall"] >= 0.75 and mislabels["precision"] >= 0.75, mislabels
    assert audited.mislabel_model_accuracy > 0.9
    top = audited.of_kind("suspected_mislabel")[:4]
    assert all(set(finding.paths) & set(truth["relabelled"]) for finding in top), "flips rank first"
    assert all("looks like" in finding.note for finding in top)


def test_unreadable_files_are_listed_with_a_reason_and_the_audit_goes_on(planted, audited) -> None:
    _, truth = planted
    listed = {item["path"]: item["reason"] for item in audited.unreadable}
    assert set(listed) == set(truth["unreadable"])
    assert all(reason and "/" not in reason.split(":")[0] for reason in listed.values())
    assert sum(audited.split_counts.values()) == len(truth["images"]) - len(truth["unreadable"])


def test_excluding_findings_keeps_one_copy_and_the_test_image_of_a_leak(planted, audited) -> None:
    _, truth = planted
    excluded = set(exclusions_for(audited.findings, ["exact_duplicate", "cross_split_copy"]))
    for finding in audited.of_kind("exact_duplicate"):
        assert len(set(finding.paths) - excluded) == 1, "one copy stays"
    for finding in audited.of_kind("cross_split_copy"):
        assert finding.paths[0].startswith("test/") and finding.paths[0] not in excluded
        assert set(finding.paths[1:]) <= excluded
    with pytest.raises(ConfigError, match="unknown finding kind"):
        exclusions_for(audited.findings, ["blurry"])


def test_an_exclusion_list_leaves_files_out_of_training_and_the_run_records_it(planted, audited, tmp_path: Path) -> None:
    root, _ = planted
    ids = exclusions_for(audited.findings)
    listing = write_exclusions(tmp_path / "exclude.txt", ids, str(root))
    assert read_exclusions(listing) == ids
    before = tree_digest(root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unreadable files are skipped with a warning
        full = load_dataset(DataConfig(str(root)))
        clean = load_dataset(DataConfig(str(root), exclude=ids))
    kept = {item for name in ("train", "val", "test") for item in clean.split(name).ids}
    assert not kept & set(ids)
    assert sum(len(full.split(n)) for n in ("train", "val", "test")) - len(kept) == len(ids)
    assert clean.split_record["excluded"] == len(ids) and clean.fingerprint != full.fingerprint
    assert tree_digest(root) == before
    request = resolve_defaults({"source": str(root), "exclude": list(ids)})
    assert request.to_dict()["data"]["exclude"] == sorted(ids)


def test_exclusions_of_files_no_longer_there_are_ignored_with_a_warning(planted) -> None:
    root, _ = planted
    with pytest.warns(UserWarning) as caught:
        load_dataset(DataConfig(str(root), exclude=("train/class_a/gone.png",)))
    assert any("1 excluded file(s) are no longer in the dataset" in str(w.message) for w in caught)


def test_excluding_a_whole_class_is_refused_in_words(planted) -> None:
    root, _ = planted
    every_a = tuple(str(path.relative_to(root)) for path in (root / "train" / "class_a").iterdir())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match="no training images in class"):
            load_dataset(DataConfig(str(root), exclude=every_a))


def test_builtin_digits_audit_by_id_and_say_what_they_could_not_check() -> None:
    report = audit_source("digits")
    assert report.split_counts == {"all": 1797} and report.root is None
    assert any("too small" in note for note in report.notes)
    assert report.counts()["near_duplicate"] == 0
    assert all(path.startswith("digits:") for finding in report.findings for path in finding.paths)
    ids = tuple(path for finding in report.findings for path in finding.exclude)
    if ids:
        kept = load_dataset(DataConfig("digits", exclude=ids))
        assert sum(len(kept.split(n)) for n in ("train", "val", "test")) == 1797 - len(set(ids))


def test_cli_audit_contract_json_last_and_an_exclusion_file_train_accepts(planted, tmp_path: Path, capsys) -> None:
    root, truth = planted
    listing = tmp_path / "exclusions.txt"
    code = main(["audit", str(root), "--write-exclusions", str(listing), "--kinds", "exact_duplicate,low_quality"])
    captured = capsys.readouterr()
    assert code == 0 and "train with --exclude" in captured.err
    out = captured.out
    result = json.loads(out.strip().splitlines()[-1])
    assert set(result["counts"]) == set(KINDS)
    assert all(set(item) >= {"kind", "paths", "score"} for item in result["findings"])
    assert result["counts"]["exact_duplicate"] == PLANTS["exact_duplicate"]
    assert result["exclusions"]["count"] == len(read_exclusions(listing)) == PLANTS["exact_duplicate"] + PLANTS["low_quality"]
    from cnnlib.cli import build_parser, request_from_args

    request = request_from_args(build_parser().parse_args(["train", "--data", str(root), "--exclude", str(listing)]))
    assert set(request.data.exclude) == set(read_exclusions(listing))


def test_cli_audit_bad_input_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["audit", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "nowhere" in err[0]
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "digits", "--exclude", str(tmp_path / "missing.txt")])
    assert exit_info.value.code == 2
    assert "cannot read the exclusion list" in capsys.readouterr().err
