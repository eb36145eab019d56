"""Predictions in the page's words: the emoji of each confidence band.

The answer itself (decoding an upload the way training decoded its data, the run's
probabilities, the band in words, the Grad-CAM heatmap) comes from the core,
``cnnlib.inference.answer_uploads``, so Classify and Compare show the same thing.
"""

from __future__ import annotations

from cnnlib.inference import BANDS, LOW_CONFIDENCE, confidence_band

#: Longest side of the photo previews on Classify and Compare.
DISPLAY_SIDE = 384

EMOJI = dict(zip((words for _, words in BANDS), ("😀", "🙂", "🤔", "😕"), strict=True))

__all__ = ["DISPLAY_SIDE", "EMOJI", "LOW_CONFIDENCE", "band_emoji", "confidence_band"]


def band_emoji(band: str) -> str:
    """The emoji shown beside a confidence band's words."""
    return EMOJI.get(band, "•")
