"""``python -m cnnlib``: the command line, a contract others script against.

Human-readable progress goes to stderr; the last line on stdout is one JSON
object (a JSON array for ``archs`` and ``runs``). Bad input exits with status
2 and a single ``error: ...`` line on stderr, and leaves the run store as it
was.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

from cnnlib.data.config import SPLITS
from cnnlib.errors import CnnlibError
from cnnlib.explain import METHODS
from cnnlib.export import EXPORT_FORMATS

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``error:`` line, as the contract says."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message}; see `python -m cnnlib {self.prog.split()[-1]} --help`\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up chatter (CUDA probing, CPU flags) is noise on stderr.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up lines (absl, CUDA probing) kept off stderr.

    Those lines are printed below Python, before TF_CPP_MIN_LOG_LEVEL is read; if the
    import fails, what it printed is shown after all (``cnnlib.quiet``).
    """
    if "tensorflow" in sys.modules:
        return
    from cnnlib.quiet import native_output_captured

    with native_output_captured():
        import tensorflow  # noqa: F401


def _one_line_warnings() -> None:
    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        text = " ".join(str(message).split())
        sys.stderr.write(f"warning: {text}\n")

    warnings.showwarning = show  # type: ignore[assignment]


def _image_size(text: str) -> tuple[int, int]:
    try:
        parts = [int(part) for part in text.lower().replace("x", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PX or HxW, e.g. 32 or 64x48. Received: {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(4 <= part <= 1024 for part in parts):
        raise argparse.ArgumentTypeError(f"image size must be 4 to 1024 pixels per side. Received: {text!r}")
    return parts[0], parts[1]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number. Received: {text!r}") from None
    return value


def _augment_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text.lower() != "none" else ()


def _resize_stages(text: str) -> tuple[tuple[int, float], ...]:
    from cnnlib.errors import ConfigError
    from cnnlib.training.resize_stages import parse_stages

    try:
        return parse_stages(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    """The full parser (also used to document the CLI in the README)."""
    parser = _Parser(prog="python -m cnnlib", description="Build, train, evaluate, explain and export CNN classifiers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("archs", help="list the architectures (JSON array)")

    runs = sub.add_parser("runs", help="list the runs in the store (JSON array)")
    runs.add_argument("--runs", help="run store directory (default $CNNLIB_RUNS or ./runs)")

    train = sub.add_parser("train", help="train a model into a new run (or --resume one)")
    train.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last completed epoch")
    train.add_argument("--data", default="digits", help="digits | mnist | fashion_mnist | cifar10 | DIR | ZIP")
    train.add_argument("--arch", default="dwsep_cnn", help="architecture name (see `archs`)")
    train.add_argument("--epochs", type=int, default=None, help="epochs (default 10; the limit with --time-budget)")
    train.add_argument("--batch-size", type=int, help="batch size (default: the architecture's)")
    train.add_argument("--image-size", type=_image_size, help="model input PX or HxW (default: the data's native size)")
    train.add_argument("--channels", type=int, choices=(1, 3), help="1 (grayscale) or 3 (RGB); default: the data's")
    train.add_argument("--lr", type=_positive_float, default=None, help="peak learning rate (default 1e-3; 0.05 for sgd)")
    train.add_argument("--optimizer", default="adam", help="adam | adamw | sgd")
    train.add_argument("--weight-decay", type=_positive_float, default=None, help="decoupled weight decay (adamw, sgd)")
    train.add_argument("--momentum", type=_positive_float, default=0.9, help="SGD momentum")
    train.add_argument("--schedule", default=None, help="constant | cosine_restarts | warmup_cosine | onecycle")
    train.add_argument("--warmup-epochs", type=_positive_float, default=1.0, help="warm-up length for warmup_cosine")
    train.add_argument("--label-smoothing", type=_positive_float, default=None,
                       help="default 0 (with --time-budget: the arch's recipe, see cnnlib/training/recipes.py)")
    train.add_argument("--tta-flip", action=argparse.BooleanOptionalAction, default=None,
                       help="test-time flip: evaluate/predict on each image and its mirror")
    train.add_argument("--augment", type=_augment_list, default=None,
                       help="comma list: flip,rotation,zoom,translation,contrast,brightness,crop,cutout")
    train.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE")
    train.add_argument("--reduce-lr-patience", type=int, default=0, metavar="PATIENCE")
    train.add_argument("--progressive-resize", type=_resize_stages, default=None, metavar="SIZE:UNTIL[,...]",
                       help="train at SIZE px until that share of training, then full size (e.g. 24:0.5); "
                            "default none (with --time-budget: the arch's recipe)")
    train.add_argument("--time-budget", type=_positive_float, metavar="MINUTES",
                       help="plan the schedule to finish training in this many minutes")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--width", type=_positive_float, default=1.0, help="width multiplier")
    train.add_argument("--dropout", type=_positive_float, default=None)
    train.add_argument("--l2", type=_positive_float, default=0.0)
    train.add_argument("--attention", choices=("se", "cbam"), help="attention after each block (dwsep_cnn)")
    train.add_argument("--weights", help="mobilenet_v2: imagenet or a local weights file")
    train.add_argument("--val-fraction", type=_positive_float, default=0.1)
    train.add_argument("--test-fraction", type=_positive_float, default=0.1)
    train.add_argument("--max-per-class", type=int, help="use at most this many images per class")
    train.add_argument("--mixed-precision", default="auto", help="auto | mixed | off")
    train.add_argument("--xla", action="store_true", help="compile with XLA (helps on GPU, slow on CPU)")
    train.add_argument("--grad-accum", type=int, default=1, help="micro-batches per optimizer update")
    train.add_argument("--no-tensorboard", action="store_true")
    train.add_argument("--runs", help="run store directory (default $CNNLIB_RUNS or ./runs)")
    train.add_argument("--name", help="a label for the run id")
    train.add_argument("--run-id", help="create the run under exactly this id (used by launchers)")

    evaluate = sub.add_parser("evaluate", help="evaluate a run on a split")
    evaluate.add_argument("run")
    evaluate.add_argument("--data", help="evaluate on another source with the same classes")
    evaluate.add_argument("--split", default="test", choices=SPLITS)
    evaluate.add_argument("--top-k", type=int, default=3)
    evaluate.add_argument("--runs")

    export = sub.add_parser("export", help="export a run to TFLite or SavedModel, verified")
    export.add_argument("run")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--out", help="output path (default: inside the run's exports/)")
    export.add_argument("--runs")

    predict = sub.add_parser("predict", help="classify image files")
    predict.add_argument("run")
    predict.add_argument("images", nargs="+", metavar="IMAGE")
    predict.add_argument("--top-k", type=int, default=3)
    predict.add_argument("--runs")

    explain = sub.add_parser("explain", help="write a heatmap overlay PNG for one image")
    explain.add_argument("run")
    explain.add_argument("image")
    explain.add_argument("--method", default="gradcam", choices=METHODS)
    explain.add_argument("--target", help="class name or index to explain (default: the predicted class)")
    explain.add_argument("--out", required=True, help="output .png path")
    explain.add_argument("--runs")

    report = sub.add_parser("report", help="write the run's model card (HTML and Markdown)")
    report.add_argument("run")
    report.add_argument("--out", help="output folder (default: the run's report/)")
    report.add_argument("--runs")
    return parser


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=lambda item: item.tolist() if hasattr(item, "tolist") else str(item)) + "\n")
    sys.stdout.flush()


class _ProgressBar:
    """One line redrawn on a terminal; one line per epoch otherwise (logs)."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "batch" and self.tty and time.time() - self.last > 0.2:
            self.last = time.time()
            steps = max(1, int(event.get("steps") or 1))
            done = int(event.get("batch") or 0)
            filled = int(24 * done / steps)
            eta = event.get("eta_seconds")
            sys.stderr.write(
                f"\repoch {event['epoch']}/{event['epochs']} [{'#' * filled}{'.' * (24 - filled)}] "
                f"loss {_fmt(event.get('loss'))} acc {_fmt(event.get('accuracy'))} "
                f"lr {_fmt(event.get('lr'), 5)} eta {_duration(eta)}   "
            )
            sys.stderr.flush()
        elif kind == "epoch":
            prefix = "\r" if self.tty else ""
            sys.stderr.write(
                f"{prefix}epoch {event['epoch']}/{event['epochs']}: loss {_fmt(event.get('loss'))} "
                f"acc {_fmt(event.get('accuracy'))} val_loss {_fmt(event.get('val_loss'))} "
                f"val_acc {_fmt(event.get('val_accuracy'))} ({_duration(event.get('epoch_seconds'))})"
                + " " * 10 + "\n"
            )
            sys.stderr.flush()


def _fmt(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _cmd_train(args: argparse.Namespace) -> Any:
    from cnnlib.training import TrainConfig, resume, train

    bar = _ProgressBar()
    if args.resume:
        return resume(args.resume, runs_dir=args.runs, on_event=bar).to_dict()
    from cnnlib.data import DataConfig

    data_config = DataConfig(
        source=args.data, image_size=args.image_size, channels=args.channels, val_fraction=args.val_fraction,
        test_fraction=args.test_fraction, seed=args.seed, max_per_class=args.max_per_class,
    )
    from cnnlib.training.recipes import budget_recipe

    recipe = budget_recipe(args.arch) if args.time_budget else {}
    schedule = args.schedule or recipe.get("schedule") or ("onecycle" if args.time_budget else "constant")
    augment = args.augment if args.augment is not None else tuple(recipe.get("augment", ()))
    label_smoothing = args.label_smoothing if args.label_smoothing is not None else recipe.get("label_smoothing", 0.0)
    test_views = (("identity", "mirror") if args.tta_flip else ("identity",)) if args.tta_flip is not None \
        else tuple(recipe.get("test_views", ("identity",)))
    progressive_resize = (args.progressive_resize if args.progressive_resize is not None
                          else tuple(recipe.get("progressive_resize", ())))
    default_lr = recipe.get("lr", 1e-3) if args.optimizer == "adam" else 0.05 if args.optimizer == "sgd" else 1e-3
    lr = args.lr if args.lr is not None else default_lr
    weight_decay = args.weight_decay if args.weight_decay is not None else (5e-4 if args.optimizer == "sgd" else
                                                                            1e-4 if args.optimizer == "adamw" else 0.0)
    train_config = TrainConfig(
        epochs=args.epochs if args.epochs is not None else 10, batch_size=args.batch_size, optimizer=args.optimizer,
        lr=lr, weight_decay=weight_decay, momentum=args.momentum, schedule=schedule,
        progressive_resize=progressive_resize,
        warmup_epochs=args.warmup_epochs, label_smoothing=label_smoothing, augment=augment, test_views=test_views,
        early_stopping=args.early_stopping, reduce_lr_patience=args.reduce_lr_patience, seed=args.seed,
        mixed_precision=args.mixed_precision, xla=args.xla, grad_accum=args.grad_accum,
        time_budget_minutes=args.time_budget, tensorboard=not args.no_tensorboard,
    )
    if args.time_budget and args.epochs is None:
        train_config = TrainConfig.from_dict({**train_config.to_dict(), "epochs": 100_000})
    model_options: dict[str, Any] = {"arch": args.arch, "width": args.width, "l2": args.l2,
                                     "attention": args.attention, "weights": args.weights}
    if args.dropout is not None:
        model_options["dropout"] = args.dropout
    if sys.stderr.isatty():
        sys.stderr.write(f"loading {args.data} ...\n")
    result = train(data_config, model_options, train_config, runs_dir=args.runs, name=args.name, on_event=bar,
                   run_id=args.run_id)
    sys.stderr.write(f"run {result.run_id}: {result.status}, test accuracy {_fmt(result.test_accuracy)} "
                     f"in {_duration(result.train_seconds)}\n")
    if result.status == "failed":
        sys.stderr.write(f"error: {result.error}\n")
    return result.to_dict()


def _cmd_evaluate(args: argparse.Namespace) -> Any:
    from cnnlib.operations import evaluate_run

    report = evaluate_run(args.run, split=args.split, source=args.data, runs_dir=args.runs, top_k=args.top_k)
    sys.stderr.write(report.get("report_text", "") + "\n")
    keys = ("accuracy", "top_k", "top_k_accuracy", "macro_f1", "per_class", "confusion", "ece", "ece_uncalibrated",
            "temperature", "views", "split", "source", "examples")
    return {key: report[key] for key in keys if key in report}


def _cmd_export(args: argparse.Namespace) -> Any:
    from cnnlib.operations import export_run

    return export_run(args.run, args.format, out=args.out, runs_dir=args.runs)


def _cmd_predict(args: argparse.Namespace) -> Any:
    from cnnlib.operations import predict_files

    return predict_files(args.run, args.images, top_k=args.top_k, runs_dir=args.runs)


def _cmd_explain(args: argparse.Namespace) -> Any:
    from cnnlib.operations import explain_file

    return explain_file(args.run, args.image, args.method, args.out, target_class=args.target, runs_dir=args.runs)


def _cmd_report(args: argparse.Namespace) -> Any:
    from cnnlib.operations import open_run
    from cnnlib.report import write_model_card

    return write_model_card(open_run(args.run, args.runs), args.out, args.runs)


def _cmd_archs(args: argparse.Namespace) -> Any:
    from cnnlib.models import list_architectures

    return list_architectures()


def _cmd_runs(args: argparse.Namespace) -> Any:
    from cnnlib.runs import RunStore

    return RunStore(args.runs).list()


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "export": _cmd_export, "predict": _cmd_predict,
            "explain": _cmd_explain, "report": _cmd_report, "archs": _cmd_archs, "runs": _cmd_runs}


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status."""
    _quiet_tensorflow()
    _one_line_warnings()
    args = build_parser().parse_args(argv)
    if args.command == "train":
        # oneDNN's CPU kernels trained cifar_fast 1.3-1.5x faster here than TensorFlow's
        # default kernels (docs/BENCHMARKS.md, "oneDNN"). TensorFlow reads the variable once,
        # at import, so it must be set before the import below. An explicit value wins.
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    if args.command != "runs":
        _import_tensorflow_quietly()
    try:
        # Libraries print progress to stdout (tf-keras-vis' Score-CAM, the TFLite
        # converter); the contract keeps stdout for the JSON result alone.
        with contextlib.redirect_stdout(sys.stderr):
            result = COMMANDS[args.command](args)
    except CnnlibError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    _print_json(result)
    if args.command == "train" and isinstance(result, dict) and result.get("status") == "failed":
        return EXIT_FAILED
    return 0
