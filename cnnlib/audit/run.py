"""``audit_source``: every check of the data audit, on one source, in one pass over its images."""

from __future__ import annotations

import time

import numpy as np

from cnnlib.audit import mislabel, quality, similarity
from cnnlib.audit.findings import KINDS, AuditReport, Finding
from cnnlib.audit.items import AuditItems, gather
from cnnlib.data.loader import Progress

#: Which copy of a leaked picture stays: the one in the split that measures the model.
_KEEP_ORDER = ("test", "val", "train", "all")
#: Below this out-of-sample accuracy, the report warns that mislabel suspicions are weak.
WEAK_MODEL_ACCURACY = 0.8


def audit_source(source: str, progress: Progress = None) -> AuditReport:
    """Audit a data source: copies, label conflicts, leakage, suspected mislabels, poor images.

    Nothing is changed on disk; excluding findings is the caller's choice (``DataConfig.exclude``).

    Args:
        source: a built-in name, an image folder or a .zip, as for training.
        progress: called with short status lines.

    Returns:
        The ``AuditReport``.

    Raises:
        DataError: the source does not exist or is not a dataset.
    """
    started = time.perf_counter()
    items = gather(source, progress)
    _say(progress, f"comparing {len(items.ids):,} images")
    layout, detail = similarity.signatures(items.thumbnails)
    notes: list[str] = []
    near = similarity.can_compare(items.native_sizes)
    if not near:
        notes.append(f"images under {similarity.MIN_COMPARE_SIDE} px are too small to tell near-copies from "
                     "lookalikes: only exact copies were searched")
    findings = _copy_findings(items, layout, detail, near)
    _say(progress, "judging labels with a 5-fold linear model")
    mislabels, accuracy = _mislabel_findings(items, np.concatenate([layout, detail], axis=1))
    if accuracy is None:
        notes.append("suspected mislabels were not searched: a class has fewer than 2 images")
    elif accuracy < WEAK_MODEL_ACCURACY:
        notes.append(f"the model that judged the labels is {accuracy:.0%} accurate on images it did not see: "
                     "treat suspected mislabels as a list to review, most will be hard images, not wrong labels")
    findings += mislabels
    findings += _quality_findings(items)
    findings.sort(key=lambda finding: (KINDS.index(finding.kind), -finding.score, finding.paths))
    split_counts = {name: int(np.sum(items.splits == name)) for name in _KEEP_ORDER[::-1] if np.any(items.splits == name)}
    flagged = {path for finding in findings for path in finding.paths}
    index_of = {item: index for index, item in enumerate(items.ids)}
    return AuditReport(
        source=source, root=items.root, class_names=items.class_names, split_counts=split_counts,
        findings=findings, unreadable=items.unreadable, mislabel_model_accuracy=accuracy,
        near_copy_share=_near_copy_share(items, findings), seconds=time.perf_counter() - started,
        notes=notes, thumbnails={path: items.thumbnails[index_of[path]] for path in flagged},
    )


def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def _copy_findings(items: AuditItems, layout: np.ndarray, detail: np.ndarray, near: bool) -> list[Finding]:
    """Exact (and, when ``near``, near) copies, grouped, then named by what they break."""
    exact_first, exact_second = similarity.exact_pairs(items.digests)
    near_first, near_second, near_score = similarity.near_pairs(layout, detail) if near else similarity.no_pairs()
    firsts = np.concatenate([exact_first, near_first])
    seconds = np.concatenate([exact_second, near_second])
    scores = np.concatenate([np.ones(len(exact_first), dtype=np.float32), near_score])
    grouped = similarity.groups(len(items.ids), firsts, seconds)
    group_of = np.full(len(items.ids), -1)
    for number, group in enumerate(grouped):
        group_of[group] = number
    weakest = np.ones(len(grouped), dtype=np.float32)  # a group is as sure as its weakest link
    np.minimum.at(weakest, group_of[firsts], scores)
    findings: list[Finding] = []
    for number, group in enumerate(grouped):
        findings += _name_group(items, group, float(weakest[number]))
    return findings


def _name_group(items: AuditItems, group: list[int], score: float) -> list[Finding]:
    """The findings one group of copies makes: a conflict, a leak, or plain duplicates."""
    ids = [items.ids[index] for index in group]
    classes = sorted({items.class_names[items.labels[index]] for index in group})
    splits = {items.splits[index] for index in group}
    found: list[Finding] = []
    if len(classes) > 1:
        found.append(Finding("label_conflict", tuple(ids), score, tuple(ids),
                             f"the same picture is labelled {', '.join(classes)}"))
    if len(splits) > 1:
        kept = next(name for name in _KEEP_ORDER if name in splits)
        stays = [item for index, item in zip(group, ids, strict=True) if items.splits[index] == kept]
        copies = [item for item in ids if item not in stays]
        found.append(Finding("cross_split_copy", tuple(stays + copies), score, tuple(copies),
                             f"{len(stays)} {kept} image(s) copied by {len(copies)} image(s) of another split"))
    if not found:
        exact = len({items.digests[index] for index in group}) == 1
        kind = "exact_duplicate" if exact else "near_duplicate"
        found.append(Finding(kind, tuple(ids), score, tuple(ids[1:]), f"{len(ids)} copies in class {classes[0]}"))
    return found


def _mislabel_findings(items: AuditItems, features: np.ndarray) -> tuple[list[Finding], float | None]:
    probabilities = mislabel.out_of_sample_probabilities(features, items.labels, len(items.class_names))
    if probabilities is None:
        return [], None
    accuracy = float(np.mean(probabilities.argmax(axis=1) == items.labels))
    names = items.class_names
    findings = [
        Finding("suspected_mislabel", (items.ids[index],), 1.0 - confidence, (items.ids[index],),
                f"labelled {names[items.labels[index]]}; looks like {names[suggested]} "
                f"({probabilities[index, suggested]:.2f} against {confidence:.2f})")
        for index, suggested, confidence in mislabel.confident_issues(probabilities, items.labels)
    ]
    return findings, accuracy


def _quality_findings(items: AuditItems) -> list[Finding]:
    return [Finding("low_quality", (items.ids[index],), severity, (items.ids[index],), reason)
            for index, reason, severity in quality.low_quality(items.thumbnails, items.native_sizes)]


def _near_copy_share(items: AuditItems, findings: list[Finding]) -> float | None:
    """Share of test images that copy (exactly or nearly) a training or validation image."""
    test = {item for item, split in zip(items.ids, items.splits, strict=True) if split == "test"}
    if not test:
        return None
    leaked = {path for finding in findings if finding.kind == "cross_split_copy" for path in finding.paths} & test
    return len(leaked) / len(test)
