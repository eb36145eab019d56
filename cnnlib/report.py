"""A model card for one run: one self-contained HTML file, and the same in Markdown.

``python -m cnnlib report RUN`` and the Evaluate page's download write it. It gathers what a
stakeholder needs to trust (or not) the model, from what the run already holds: the data
and its split, metrics per class, calibration before and after, the familiarity threshold
and how well it tells images of no class apart, the parity of every export made, a gallery
of the most confident errors with their Grad-CAM, the training recipe and time, and the
intended use and known limits. The HTML embeds its images, so it can be mailed as is.

A section whose facts are missing says so in words (no export made yet, the data folder not
found on this machine), so a card can always be written.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnlib.errors import CnnlibError
from cnnlib.runs import Run, run_name

#: Section titles, in order; the browser test checks them.
SECTIONS = ("Summary", "Intended use and limits", "Data", "Metrics per class", "Calibration",
            "None of my classes", "Exports", "Most confident errors", "Training")
#: Errors shown in the gallery.
GALLERY = 12
#: Images per set of no class in the familiarity check.
FAMILIARITY_SET_SIZE = 500


@dataclass
class Section:
    """One section: paragraphs, an optional table and optional images (PNG bytes + caption)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: tuple[list[str], list[list[Any]]] | None = None
    images: list[tuple[bytes, str]] = field(default_factory=list)


def _png(array: np.ndarray, side: int = 96) -> bytes:
    from PIL import Image

    pixels = np.asarray(array)
    image = Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels)
    buffer = io.BytesIO()
    image.resize((side, side), Image.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _summary(run: Run, evaluation: dict[str, Any]) -> Section:
    info, spec = run.info(), run.input_spec()
    return Section("Summary", [
        f"Run `{run.id}` ({info.get('name') or 'unnamed'}): a `{info.get('arch')}` classifier of "
        f"{spec.describe()}, {info.get('params') or 0:,} parameters.",
        f"Test accuracy {_pct(evaluation.get('accuracy'))} on {evaluation.get('examples', 0):,} test images "
        f"(top-{evaluation.get('top_k', 3)} {_pct(evaluation.get('top_k_accuracy'))}, macro F1 "
        f"{evaluation.get('macro_f1', 0):.3f}). It answers with the views {', '.join(spec.views)}.",
    ])


def _limits(run: Run, evaluation: dict[str, Any]) -> Section:
    spec = run.input_spec()
    per_class = evaluation.get("per_class", {})
    weakest = min(per_class.items(), key=lambda item: item[1]["f1"])[0] if per_class else None
    lines = [
        f"Intended use: sorting photos into exactly these classes: {', '.join(spec.class_names)}. It has no "
        "'other' class: every photo gets one of them.",
        f"The model sees {spec.height}×{spec.width} {'grey' if spec.channels == 1 else 'colour'} pixels; larger "
        "photos are shrunk to that, so small details are lost.",
        "Accuracy was measured on held-out images from the same source as the training images; photos from "
        "other cameras, places or people can score lower.",
    ]
    if weakest:
        lines.append(f"Weakest class: {weakest} (F1 {per_class[weakest]['f1']:.3f}).")
    if spec.ood_threshold is None:
        lines.append("No familiarity score was fitted: photos of none of the classes are not flagged.")
    return Section("Intended use and limits", lines)


def _audit_paragraphs(run: Run, runs_dir: str | os.PathLike[str] | None) -> list[str]:
    """What the data audit says about the run's source, and what training left out."""
    from cnnlib.audit import KIND_TITLES
    from cnnlib.operations import audit_summary

    excluded = run.config().get("data", {}).get("exclude") or []
    lines = [f"{len(excluded):,} images were left out of training after the data audit (listed in the run's "
             "config.json)."] if excluded else []
    audit = audit_summary(run, runs_dir)
    if audit is None:
        return lines + ["The data audit could not run: the source is not on this machine."]
    found = "; ".join(f"{KIND_TITLES[kind].split(' (')[0].lower()}: {count:,}" for kind, count in audit["counts"].items())
    lines.append(f"Data audit of {audit['images']:,} images: {found}.")
    if audit.get("near_copy_share") is not None:
        lines.append(f"{audit['near_copy_share']:.1%} of the source's test images copy a training image, so test "
                     "accuracy is that much less a measure of new images.")
    return lines + list(audit.get("notes") or [])


def _data(run: Run, runs_dir: str | os.PathLike[str] | None = None) -> Section:
    data = run.data_info()
    record, summary = data.get("split_record", {}), data.get("summary", {})
    counts = record.get("counts", {})
    paragraphs = [f"Source `{run.config().get('data', {}).get('source')}`; split: {record.get('method', '?')} "
                  f"(seed {record.get('seed', '?')}): " + ", ".join(f"{name} {n:,}" for name, n in counts.items()) + "."]
    imbalance = (summary.get("imbalance") or {}).get("warning")
    if imbalance:
        paragraphs.append(imbalance)
    skipped = (summary.get("skipped") or {}).get("count", 0)
    if skipped:
        paragraphs.append(f"{skipped:,} unreadable files were skipped.")
    paragraphs += _audit_paragraphs(run, runs_dir)
    per_split = summary.get("counts", {})
    rows = [[name, *(per_split.get(split, {}).get(name, 0) for split in ("train", "val", "test"))]
            for name in data.get("class_names", [])]
    return Section("Data", paragraphs, (["class", "train", "val", "test"], rows))


def _metrics(evaluation: dict[str, Any]) -> Section:
    rows = [[name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", int(m["support"])]
            for name, m in evaluation.get("per_class", {}).items()]
    return Section("Metrics per class", [f"On the {evaluation.get('split', 'test')} split."],
                   (["class", "precision", "recall", "F1", "images"], rows))


def _calibration(evaluation: dict[str, Any]) -> Section:
    temperature = evaluation.get("temperature")
    if temperature is None:
        return Section("Calibration", ["Not calibrated: the confidence shown is the raw softmax "
                                       f"(expected calibration error {evaluation.get('ece', 0):.4f})."])
    return Section("Calibration", [
        f"Logits are divided by a temperature of {temperature:.3f}, fitted on the validation split, before the "
        "softmax, in the app, the command line and every export. The answered class never changes.",
        f"Expected calibration error on the test split: {evaluation.get('ece', 0):.4f} as shown, "
        f"{evaluation.get('ece_uncalibrated', 0):.4f} before calibration (0 is perfect).",
    ])


def _familiarity(predictor: Any, test_images: np.ndarray | None) -> Section:
    from cnnlib import ood
    from cnnlib.ood_sets import SETS, make_set

    spec = predictor.spec
    if not predictor.scores_familiarity:
        return Section("None of my classes", ["No familiarity score is fitted for this run, so photos of none of "
                                              "its classes get an answer like any other."])
    paragraphs = [f"Each answer carries a familiarity score (distance of the image's features to its nearest "
                  f"training images); above {spec.ood_threshold:.4f}, which 95% of validation images stay under, "
                  "the app warns that the photo may show none of the classes."]
    if test_images is None:
        paragraphs.append("The test images are not on this machine, so how well the score separates images of "
                          "no class was not measured here.")
        return Section("None of my classes", paragraphs)
    familiar = predictor.ood_scores(test_images)
    paragraphs.append(f"{np.mean(familiar <= spec.ood_threshold):.1%} of test images pass. AUROC (1 = perfect "
                      f"separation) of test images against {FAMILIARITY_SET_SIZE} generated images per set:")
    rows = []
    for name, (_, kind) in SETS.items():
        scores = predictor.ood_scores(make_set(name, FAMILIARITY_SET_SIZE, spec.shape, seed=1))
        rows.append([name.replace("_", " "), kind, f"{ood.auroc(familiar, scores):.3f}",
                     f"{np.mean(scores > spec.ood_threshold):.1%}"])
    return Section("None of my classes", paragraphs, (["set", "kind", "AUROC", "flagged"], rows))


def _exports(run: Run, runs_dir: str | os.PathLike[str] | None) -> Section:
    from cnnlib.operations import EXPORT_FORMATS, export_report

    rows = []
    for fmt in EXPORT_FORMATS:
        report = export_report(run, fmt, runs_dir)
        if report is not None and "agreement" in report:
            rows.append([fmt, f"{report['bytes']:,}", _pct(report.get("tflite_accuracy")), _pct(report.get("agreement")),
                         f"{report.get('test_count', 0):,}"])
    if not rows:
        return Section("Exports", ["No verified export has been made yet (Classify's export panel, or "
                                   "`python -m cnnlib export`)."])
    return Section("Exports", ["Each file is the run's inference model, checked against it on the test split."],
                   (["format", "bytes", "accuracy", "same answer as the app", "test images"], rows))


def _gallery(predictor: Any, evaluation: dict[str, Any], test_images: np.ndarray | None) -> Section:
    from cnnlib.explain.overlay import overlay_heatmap

    wrong = sorted(evaluation.get("misclassified") or [], key=lambda item: -item["confidence"])[:GALLERY]
    if not wrong:
        return Section("Most confident errors", ["No test image is misclassified."])
    if test_images is None:
        rows = [[item["true"], item["predicted"], f"{item['confidence']:.0%}"] for item in wrong]
        return Section("Most confident errors", ["The test images are not on this machine; the errors are listed "
                                                 "without pictures."], (["true", "predicted", "confidence"], rows))
    images = []
    for item in wrong:
        image = test_images[item["index"]]
        heatmap = predictor.heatmap(image, predictor.spec.class_names.index(item["predicted"]))
        shown = np.asarray(overlay_heatmap(np.repeat(np.repeat(image, 4, 0), 4, 1), heatmap, 0.45))
        images.append((_png(shown), f"true {item['true']} → {item['predicted']} {item['confidence']:.0%}"))
    return Section("Most confident errors", ["With the Grad-CAM of the predicted class: where the model looked."],
                   images=images)


def _training(run: Run) -> Section:
    info, config = run.info(), run.config()
    train = config.get("train", {})
    recipe = ", ".join(f"{key} {value}" for key, value in train.items() if value not in (None, False, [], ()))
    return Section("Training", [
        f"{info.get('epochs_done', '?')} epochs in {info.get('train_seconds') or 0:.0f} s on {info.get('device', '?')}"
        f" (best epoch {info.get('best_epoch', '?')}), trained {info.get('created', '?')}.",
        f"Recipe: {recipe}.", f"Model options: {config.get('model', {})}.",
    ])


def _evaluation_and_images(run: Run, predictor: Any) -> tuple[dict[str, Any], np.ndarray | None]:
    """The test report and test images; only the saved report when the data is not on this machine."""
    from cnnlib.operations import test_evaluation

    try:
        result = test_evaluation(run, predictor.classifier)
    except CnnlibError:
        saved = run.evaluation("test")
        if saved is None:
            raise
        return saved, None
    return result["evaluation"], result["dataset"].split("test").images


def model_card(run: Run, runs_dir: str | os.PathLike[str] | None = None) -> list[Section]:
    """The sections of ``run``'s model card (``SECTIONS``, in order).

    Raises:
        cnnlib.errors.CnnlibError: The run has no test evaluation and its data cannot be loaded.
    """
    from cnnlib.inference import load_predictor
    from cnnlib.operations import ensure_calibrated

    ensure_calibrated(run)
    predictor = load_predictor(run)
    evaluation, test_images = _evaluation_and_images(run, predictor)
    return [_summary(run, evaluation), _limits(run, evaluation), _data(run, runs_dir), _metrics(evaluation),
            _calibration(evaluation), _familiarity(predictor, test_images), _exports(run, runs_dir),
            _gallery(predictor, evaluation, test_images), _training(run)]


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;"
          "text-align:left}figure{display:inline-block;margin:.3em;text-align:center;font-size:.8em}")


def _inline(text: str) -> str:
    """Escape for HTML, then turn `code` spans into <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if n % 2 else part for n, part in enumerate(parts))


def render_html(title: str, sections: list[Section]) -> str:
    """One self-contained HTML page (inline CSS, images as data URIs)."""
    body = [f"<h1>{html.escape(title)}</h1>", f"<p>Written {_dt.datetime.now():%Y-%m-%d %H:%M} by cnnlib.</p>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        body += [f"<p>{_inline(text)}</p>" for text in section.paragraphs]
        if section.table:
            header, rows = section.table
            body.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>")
            body += ["<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows]
            body.append("</table>")
        for data, caption in section.images:
            uri = "data:image/png;base64," + base64.b64encode(data).decode()
            body.append(f'<figure><img src="{uri}" alt="{html.escape(caption)}"><figcaption>'
                        f"{html.escape(caption)}</figcaption></figure>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")


def render_markdown(title: str, sections: list[Section]) -> str:
    """The same card in Markdown (images are in the HTML only; captions listed)."""
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""] + [f"{text}\n" for text in section.paragraphs]
        if section.table:
            header, rows = section.table
            lines += ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows] + [""]
        if section.images:
            lines += [f"- {caption}" for _, caption in section.images] + ["", "(The pictures are in the HTML card.)", ""]
    return "\n".join(lines)


def write_model_card(run: Run, out_dir: str | os.PathLike[str] | None = None,
                     runs_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Write ``model-card.html`` and ``model-card.md`` (atomically) and return their paths.

    Args:
        run: The run.
        out_dir: Where to write; default the run's ``report/`` (a bundled run: ``<store>/.exports/<id>/``).
        runs_dir: The run store root.
    """
    from cnnlib.io import atomic_write_text
    from cnnlib.operations import export_dir

    folder = Path(out_dir) if out_dir else (export_dir(run, runs_dir) if run.read_only else run.path / "report")
    sections = model_card(run, runs_dir)
    title = f"Model card: {run_name(run.info())}"
    paths = {"html": folder / "model-card.html", "markdown": folder / "model-card.md"}
    atomic_write_text(paths["html"], render_html(title, sections))
    atomic_write_text(paths["markdown"], render_markdown(title, sections))
    return {"html": str(paths["html"]), "markdown": str(paths["markdown"]), "sections": [s.title for s in sections]}
