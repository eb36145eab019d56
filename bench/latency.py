"""Classify and explain latency for the path the app uses, median of N after warm-up."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from bench import common
from bench.fixture import load_fixture

GOALS_MS = {"upload_32_keras": 3.0, "upload_32_int8": 0.3, "phone_12mp_keras": 60.0, "gradcam_one": 10.0}


def _encode(image: np.ndarray, fmt: str, quality: int = 90) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def phone_photo(seed: int = 0) -> bytes:
    """A 4000x3000 (12 MP) JPEG with smooth structure plus noise, like a phone photo."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:3000, 0:4000].astype(np.float32)
    base = np.stack(
        [128 + 100 * np.sin(xs / 300), 128 + 100 * np.cos(ys / 200), 128 + 60 * np.sin((xs + ys) / 500)], -1
    )
    noisy = base + rng.normal(0, 12, base.shape).astype(np.float32)
    return _encode(np.clip(noisy, 0, 255).astype(np.uint8), "JPEG", 92)


def run_latency(args: Any) -> common.Section:
    import tempfile

    from cnnlib.explain import explain
    from cnnlib.explain.fast import fast_gradcam
    from cnnlib.export import TFLiteClassifier, convert_tflite
    from cnnlib.images import load_image
    from cnnlib.inference import decode_upload
    from cnnlib.predict import predict_probabilities

    section = common.Section(
        "latency",
        "Classify and explain latency (app path, median after warm-up)",
        goal="32x32 upload <= 3 ms (Keras), <= 0.3 ms (int8 TFLite); 12 MP JPEG <= 60 ms; "
        "Grad-CAM <= 10 ms; Score-CAM and a batch of 16 reported",
    )
    fixture = load_fixture(args.run, args.runs)
    # The app, `predict` and every export answer with the run's inference model (its test-time
    # views inside); measure that, not a bare single pass. Explanations read the classifier.
    model, answer, spec = fixture.model, fixture.answer, fixture.spec
    exported_model = answer
    section.note(
        f"model: {fixture.description}; test-time views {', '.join(spec.views)} (as the app and the "
        f"run's exports use them); runs = {args.runs_count} (Score-CAM: {args.scorecam_runs}); "
        "'app' = cnnlib.inference.decode_upload (what Classify's answer_uploads calls), "
        "'core' = cnnlib.images.load_image (draft-mode JPEG)"
    )
    rng = np.random.default_rng(0)
    tiny = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    uploads = {"png": _encode(tiny, "PNG"), "jpeg": _encode(tiny, "JPEG")}
    phone = phone_photo()
    size, channels = (32, 32), 3
    rows = []

    def measure(name: str, call: Any, runs: int | None = None, **extra: Any) -> None:
        result = common.median_ms(call, runs=runs or args.runs_count, warmup=5 if runs else 20)
        goal = GOALS_MS.get(name)
        record = section.add(
            {
                "path": name,
                **result,
                "goal_ms": goal,
                "goal_met": None if goal is None else result["median_ms"] <= goal,
                "load": common.load_average(),
                **extra,
            }
        )
        rows.append(
            [
                name,
                extra.get("what", ""),
                result["median_ms"],
                f"{result['p10_ms']}..{result['p90_ms']}",
                goal if goal is not None else "report",
                "" if goal is None else ("yes" if record["goal_met"] else "NO"),
                record["load"][0],
            ]
        )

    representative = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    if fixture.run is not None:
        try:
            from cnnlib.operations import load_run_dataset

            representative = load_run_dataset(fixture.run).train.images[:256]
        except Exception as exc:  # the bench still runs on random calibration data
            common.log(f"calibration data unavailable ({exc}); using random images")
    with tempfile.TemporaryDirectory() as tmp:
        int8_path = f"{tmp}/int8.tflite"
        with open(int8_path, "wb") as handle:
            handle.write(convert_tflite(exported_model, "tflite-int8", representative))
        int8 = TFLiteClassifier(int8_path)

        measure(
            "upload_32_keras",
            lambda: predict_probabilities(
                answer, decode_upload(uploads["png"], "x.png", spec)[0]
            ),
            what="PNG bytes -> app decode_upload -> compiled predict_probabilities",
        )
        measure(
            "upload_32_keras_jpeg",
            lambda: predict_probabilities(
                answer, decode_upload(uploads["jpeg"], "x.jpg", spec)[0]
            ),
            what="JPEG bytes -> app decode_upload -> predict_probabilities",
        )
        measure(
            "upload_32_keras_core",
            lambda: predict_probabilities(answer, load_image(uploads["png"], size, channels)),
            what="PNG bytes -> load_image -> predict_probabilities",
        )
        measure("predict_32_keras_only", lambda: predict_probabilities(answer, tiny),
                what="predict_probabilities only")
        measure("predict_32_keras_one_pass", lambda: predict_probabilities(model, tiny),
                what="predict_probabilities, one forward pass of the classifier (no test-time views)")
        measure(
            "upload_32_int8",
            lambda: int8.predict_probabilities(load_image(uploads["jpeg"], size, channels)[None]),
            what="JPEG bytes -> load_image -> int8 TFLite",
        )
        measure(
            "upload_32_int8_png",
            lambda: int8.predict_probabilities(load_image(uploads["png"], size, channels)[None]),
            what="PNG bytes -> load_image -> int8 TFLite",
        )
        measure(
            "predict_32_int8_only", lambda: int8.predict_probabilities(tiny[None]), what="int8 TFLiteClassifier only"
        )
        measure(
            "decode_32_png_only", lambda: load_image(uploads["png"], size, channels), what="load_image of a 32x32 PNG"
        )
        phone_runs = max(20, args.runs_count // 4)
        measure(
            "phone_12mp_keras",
            lambda: predict_probabilities(answer, load_image(phone, size, channels)),
            runs=phone_runs,
            what=f"12 MP JPEG ({len(phone) // 1024} KiB) -> load_image (draft) -> predict",
        )
        measure(
            "phone_12mp_app",
            lambda: predict_probabilities(
                answer, decode_upload(phone, "p.jpg", spec)[0]
            ),
            runs=phone_runs,
            what="12 MP JPEG -> app decode_upload (model input + preview decode) -> predict",
        )
        measure("gradcam_one", lambda: fast_gradcam(model, tiny), what="cnnlib.explain.fast.fast_gradcam")
        measure(
            "gradcam_explain_app",
            lambda: explain(model, tiny, "gradcam"),
            what="explain(model, image, 'gradcam') as the app calls it",
        )
        measure(
            "scorecam_one",
            lambda: explain(model, tiny, "scorecam"),
            runs=args.scorecam_runs,
            what="explain(model, image, 'scorecam') (tf-keras-vis)",
        )
        batch_uploads = [_encode(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "PNG") for _ in range(16)]
        measure(
            "batch_16_uploads_keras",
            lambda: predict_probabilities(
                answer, np.stack([decode_upload(b, "x.png", spec)[0] for b in batch_uploads]),
            ),
            what="16 PNG uploads -> decode_upload each -> one predict call",
        )
    section.write(
        common.markdown_table(["path", "what", "median ms", "p10..p90 ms", "goal ms", "met", "load 1m"], rows)
    )
    return section
