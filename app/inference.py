"""Predictions in the page's words: the emoji of each confidence band, and the warnings.

The answer itself (decoding an upload the way training decoded its data, the run's
probabilities, the band in words, the Grad-CAM heatmap) comes from the core,
``cnnlib.inference.answer_uploads``, so Classify and Compare show the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnlib.inference import BANDS, LOW_CONFIDENCE, Answer, UploadAnswer, accepted, confidence_band

#: Longest side of the photo previews on Classify and Compare.
DISPLAY_SIDE = 384

EMOJI = dict(zip((words for _, words in BANDS), ("😀", "🙂", "🤔", "😕"), strict=True))

__all__ = ["DISPLAY_SIDE", "EMOJI", "LOW_CONFIDENCE", "answer_warnings", "band_emoji", "confidence_band",
           "headline", "upload_warnings"]


def band_emoji(band: str) -> str:
    """The emoji shown beside a confidence band's words."""
    return EMOJI.get(band, "•")


def _known(classes: Sequence[str]) -> str:
    return ", ".join(classes[:10]) + ("…" if len(classes) > 10 else "")


def headline(answer: Answer, threshold: float = LOW_CONFIDENCE) -> str:
    """The answer in one line: the label when ``accepted`` at ``threshold``, else "Not sure" and the top guess."""
    if not accepted(answer.confidence, threshold):
        return f"🤔 Prediction: Not sure (top guess: {answer.label} {answer.confidence:.0%})"
    return f"{band_emoji(answer.band)} Prediction: **{answer.label}** — {answer.confidence:.1%} ({answer.band})"


def upload_warnings(upload: UploadAnswer, classes: Sequence[str], threshold: float = LOW_CONFIDENCE) -> list[str]:
    """``answer_warnings`` of an upload, after the note that it is far from what the model sees."""
    return ([f"🖼️ {upload.mismatch}"] if upload.mismatch else []) + answer_warnings(upload.answer, classes, threshold)


def answer_warnings(answer: Answer, classes: Sequence[str], threshold: float = LOW_CONFIDENCE) -> list[str]:
    """What a page says beside an answer: unfamiliar (none of the classes) and low confidence, apart.

    A photo can be confidently wrong about something the model never saw, so the
    familiarity warning does not depend on the confidence, and the confidence warning
    does not claim the photo is unfamiliar.
    """
    warnings = []
    if answer.unfamiliar:
        warnings.append(f"🧭 This photo may show none of the classes this model knows ({_known(classes)}): it is "
                        f"unlike the images it was trained on (familiarity score {answer.ood_score:.2f}, above "
                        "what 95% of its validation images score), so treat the answer with care.")
    if not accepted(answer.confidence, threshold):
        warnings.append(f"🤔 Low confidence ({answer.confidence:.0%}, under the {threshold:.0%} threshold): "
                        f"{answer.label} is only the model's best guess among the classes it knows.")
    return warnings
