"""What an audit reports: one ``Finding`` per problem, collected in an ``AuditReport``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Every kind of finding, in the order the CLI, the page and the model card list them.
KINDS = ("exact_duplicate", "near_duplicate", "label_conflict", "cross_split_copy", "suspected_mislabel",
         "low_quality")

#: What each kind means, in the words the Data page and the model card use.
KIND_TITLES = {
    "exact_duplicate": "Exact duplicates (same file content, same class)",
    "near_duplicate": "Near-duplicates (the same picture re-encoded, resized or recoloured, same class)",
    "label_conflict": "Label conflicts (the same picture in two or more classes)",
    "cross_split_copy": "Test images that copy training images (leakage: they inflate test accuracy)",
    "suspected_mislabel": "Suspected mislabels (a model that never saw them disagrees with their label)",
    "low_quality": "Low quality (tiny, nearly constant, very dark or very bright)",
}


@dataclass(frozen=True)
class Finding:
    """One problem the audit found.

    Attributes:
        kind: one of ``KINDS``.
        paths: the example ids involved (paths relative to the source root, or ``"digits:12"``).
        score: how sure the audit is, in [0, 1]: similarity for copies, 1 - the out-of-sample
            confidence in the given label for mislabels, severity for low quality.
        exclude: the ids that excluding this finding leaves out of training (a subset of
            ``paths``: duplicates keep one copy, a leaked test image keeps its place in the test split).
        note: one line for a person ("labelled cat; looks like dog (0.81)").
    """

    kind: str
    paths: tuple[str, ...]
    score: float
    exclude: tuple[str, ...]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``{kind, paths, score, exclude, note}``."""
        return {"kind": self.kind, "paths": list(self.paths), "score": round(float(self.score), 4),
                "exclude": list(self.exclude), "note": self.note}


@dataclass
class AuditReport:
    """Everything one audit of one source found.

    Attributes:
        source: the source as given.
        root: the folder the ids are relative to (None for built-in sources).
        class_names: classes in loader order.
        split_counts: images looked at per split (``"all"`` for a source without given splits).
        findings: every finding, ordered by kind (``KINDS``), then score (highest first).
        unreadable: ``{"path", "reason"}`` for every file that could not be decoded (skipped, listed).
        mislabel_model_accuracy: out-of-sample accuracy of the model that judged the labels
            (low values mean its suspicions are weak evidence); None when it could not run.
        near_copy_share: share of the test split flagged as copies of training images
            (None without a given test split).
        seconds: wall-clock time of the audit.
        notes: what the audit could not check here, or how to read it, one line each.
        thumbnails: ``id -> uint8 (32, 32, 3)`` for every id in a finding (for the page; not in JSON).
    """

    source: str
    root: Path | None
    class_names: list[str]
    split_counts: dict[str, int]
    findings: list[Finding]
    unreadable: list[dict[str, str]]
    mislabel_model_accuracy: float | None
    near_copy_share: float | None
    seconds: float
    notes: list[str] = field(default_factory=list)
    thumbnails: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def counts(self) -> dict[str, int]:
        """Findings per kind (every kind present, zeros included)."""
        counts = dict.fromkeys(KINDS, 0)
        for finding in self.findings:
            counts[finding.kind] += 1
        return counts

    def of_kind(self, kind: str) -> list[Finding]:
        """The findings of one kind, highest score first."""
        return [finding for finding in self.findings if finding.kind == kind]

    def image_path(self, example_id: str) -> Path | None:
        """The file behind an id, when the source is a folder (for a full-size preview)."""
        return None if self.root is None else self.root / example_id

    def to_dict(self) -> dict[str, Any]:
        """The JSON the CLI prints: ``counts``, ``findings`` and the context to read them."""
        return {
            "source": self.source,
            "classes": len(self.class_names),
            "images": sum(self.split_counts.values()),
            "split_counts": dict(self.split_counts),
            "counts": self.counts(),
            "unreadable": list(self.unreadable),
            "mislabel_model_accuracy": None if self.mislabel_model_accuracy is None
            else round(self.mislabel_model_accuracy, 4),
            "near_copy_share": None if self.near_copy_share is None else round(self.near_copy_share, 5),
            "seconds": round(self.seconds, 1),
            "notes": list(self.notes),
            "findings": [finding.to_dict() for finding in self.findings],
        }
