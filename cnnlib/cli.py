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
        # self.prog is "python -m cnnlib" or "python -m cnnlib train": the help that answers this error.
        sys.stderr.write(f"error: {message}; see `{self.prog} --help`\n")
        raise SystemExit(EXIT_BAD_INPUT)

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        # argparse reports a subcommand's unknown flags from the top-level parser; the
        # subcommand's own help is the one that lists the flags it takes.
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            commands = next((action.choices for action in self._actions
                             if isinstance(action, argparse._SubParsersAction)), {})
            target = commands.get(getattr(parsed, "command", None), self)
            target.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


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
    from cnnlib.errors import ConfigError
    from cnnlib.spec import check_image_size

    try:
        return check_image_size(parts[0] if len(parts) == 1 else parts)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number. Received: {text!r}") from None
    return value


def _augment_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip()) if text.lower() != "none" else ()


def _views(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _resize_stages(text: str) -> tuple[tuple[int, float], ...]:
    from cnnlib.errors import ConfigError
    from cnnlib.training.resize_stages import parse_stages

    try:
        return parse_stages(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _exclusion_list(path: str) -> tuple[str, ...]:
    from cnnlib.audit.exclusions import read_exclusions
    from cnnlib.errors import ConfigError

    try:
        return read_exclusions(path)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _kind_list(text: str) -> tuple[str, ...]:
    from cnnlib.audit.findings import KINDS

    kinds = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"expected finding kinds among {', '.join(KINDS)}; received {text!r}")
    return kinds


def build_parser() -> argparse.ArgumentParser:
    """The full parser (also used to document the CLI in the README)."""
    parser = _Parser(prog="python -m cnnlib", description="Build, train, evaluate, explain and export CNN classifiers.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("archs", help="list the architectures (JSON array)")
    runs = sub.add_parser("runs", help="list the runs in the store (JSON array); rename or delete one")
    runs.add_argument("--runs", help="run store directory (default $CNNLIB_RUNS or ./runs)")
    _add_runs_actions(runs)
    train = sub.add_parser("train", help="train a model into a new run (or --resume one)")
    _add_train_run_flags(train)
    _add_data_flags(train.add_argument_group("data (cnnlib.data.DataConfig)"))
    _add_model_flags(train.add_argument_group("model (cnnlib.models.ModelConfig)"))
    _add_optimizer_flags(train.add_argument_group("optimization (cnnlib.training.TrainConfig)"))
    _add_training_flags(train.add_argument_group("training run (cnnlib.training.TrainConfig)"))
    _add_run_commands(sub)
    return parser


def _add_runs_actions(runs: argparse.ArgumentParser) -> None:
    """``runs rename RUN NAME`` and ``runs delete RUN [--yes]``; plain ``runs`` still lists."""
    actions = runs.add_subparsers(dest="runs_action", metavar="{rename,delete}", parser_class=_Parser)
    rename = actions.add_parser("rename", help="give a run a new display name (its id stays)")
    rename.add_argument("run", help="run id or directory")
    rename.add_argument("name", help="the new name: one line, at most 80 characters")
    delete = actions.add_parser("delete", help="delete a run (a running job is stopped first)")
    delete.add_argument("run", help="run id or directory")
    delete.add_argument("--yes", action="store_true", help="do not ask; needed when stdin is not a terminal")
    for action in (rename, delete):
        # SUPPRESS: without a value here, `runs --runs DIR rename ...` keeps the DIR given before.
        action.add_argument("--runs", default=argparse.SUPPRESS, help="run store directory")


# Train flags default to None: "not given", so cnnlib.training.request.resolve_defaults
# fills them exactly as it does for the app and for Python callers.
def _add_train_run_flags(train: argparse.ArgumentParser) -> None:
    train.add_argument("--request", metavar="FILE", help="run the training request saved in FILE (JSON)")
    train.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last completed epoch")
    train.add_argument("--runs", help="run store directory (default $CNNLIB_RUNS or ./runs)")
    train.add_argument("--name", help="a label for the run id")
    train.add_argument("--run-id", help="create the run under exactly this id (used by launchers)")


def _add_data_flags(group: Any) -> None:
    group.add_argument("--data", help="digits | mnist | fashion_mnist | cifar10 | DIR | ZIP (default digits)")
    group.add_argument("--image-size", type=_image_size,
                       help="model input PX or HxW (default: the data's native size, raised to the arch's minimum)")
    group.add_argument("--channels", type=int, choices=(1, 3), help="1 (grayscale) or 3 (RGB); default: the data's")
    group.add_argument("--val-fraction", type=_positive_float, help="share held out for validation (default 0.1)")
    group.add_argument("--test-fraction", type=_positive_float, help="share held out for testing (default 0.1)")
    group.add_argument("--split-seed", type=int, help="seeds the train/val/test split (default 0, whatever --seed is)")
    group.add_argument("--max-per-class", type=int, help="use at most this many images per class")
    group.add_argument("--exclude", type=_exclusion_list, metavar="FILE",
                       help="leave out the example ids listed in FILE (one per line, as `audit --write-exclusions` "
                            "writes); the files stay untouched")
    group.add_argument("--extra-train", action="append", metavar="DIR",
                       help="also train on the images of DIR/<class>/ (e.g. a run's field/ photos); repeatable")


def _add_model_flags(group: Any) -> None:
    group.add_argument("--arch", help="architecture name (see `archs`; default: recipes.DEFAULT_ARCH)")
    group.add_argument("--width", type=_positive_float, help="width multiplier (default 1)")
    group.add_argument("--dropout", type=_positive_float, help="dropout before the classifier (default 0.2)")
    group.add_argument("--l2", type=_positive_float, help="L2 on conv/dense kernels (default 0)")
    group.add_argument("--bn-momentum", type=_positive_float, help="BatchNorm momentum (default 0.9)")
    group.add_argument("--attention", choices=("se", "cbam"), help="attention after each block")
    group.add_argument("--weights", help="mobilenet_v2: imagenet or a local weights file; from_run: the run to start from (id or folder; default the bundled demo)")


def _add_optimizer_flags(group: Any) -> None:
    group.add_argument("--optimizer", help="adam | adamw | sgd | sgd_airbench (default adam; the airbench "
                                           "architectures: sgd_airbench)")
    group.add_argument("--lr", type=_positive_float, help="peak learning rate (default 1e-3; 0.05 for sgd)")
    group.add_argument("--weight-decay", type=_positive_float,
                       help="decoupled weight decay (default 0; 1e-4 for adamw, 5e-4 for sgd)")
    group.add_argument("--momentum", type=_positive_float, help="SGD momentum (default 0.9)")
    group.add_argument("--schedule", help="constant | cosine_restarts | warmup_cosine | onecycle | triangle")
    group.add_argument("--bn-bias-lr-scale", type=_positive_float,
                       help="sgd_airbench: learning-rate multiplier of the BatchNorm biases (airbench: 64)")
    group.add_argument("--lookahead", action=argparse.BooleanOptionalAction,
                       help="every 5 steps pull the weights to their running average, and end on it")
    group.add_argument("--warmup-epochs", type=_positive_float, help="warm-up length for warmup_cosine (default 1)")
    group.add_argument("--label-smoothing", type=_positive_float,
                       help="default 0 (with --time-budget: the arch's recipe, see cnnlib/training/recipes.py)")
    group.add_argument("--grad-accum", type=int, help="micro-batches per optimizer update (default 1)")
    group.add_argument("--mixed-precision", help="auto | mixed | off (default auto)")
    group.add_argument("--xla", action=argparse.BooleanOptionalAction, help="compile with XLA (helps on GPU, slow on CPU)")


def _add_training_flags(group: Any) -> None:
    group.add_argument("--epochs", type=int, help="epochs (default 10; the limit with --time-budget)")
    group.add_argument("--batch-size", type=int, help="batch size (default: the architecture's)")
    group.add_argument("--time-budget", type=_positive_float, metavar="MINUTES",
                       help="plan the schedule to finish training in this many minutes")
    group.add_argument("--augment", type=_augment_list,
                       help="comma list: flip,alternating_flip,rotation,zoom,translation,contrast,brightness,crop,"
                            "cutout (or none)")
    group.add_argument("--crop-padding", type=int, metavar="PX", help="crop: the most pixels it shifts by (default 4)")
    group.add_argument("--whiten", action=argparse.BooleanOptionalAction,
                       help="airbench archs: fit the first layer to the images' patch covariance and freeze it "
                            "(default on; --no-whiten trains it from random)")
    group.add_argument("--whiten-bias-epochs", type=int, metavar="EPOCHS",
                       help="epochs the whitening stem's bias trains before it is frozen (default 3)")
    group.add_argument("--identity-init", action=argparse.BooleanOptionalAction,
                       help="airbench archs: start each block conv as an identity kernel (default on)")
    group.add_argument("--progressive-resize", type=_resize_stages, metavar="SIZE:UNTIL[,...]",
                       help="train at SIZE px until that share of training, then full size (e.g. 24:0.5)")
    group.add_argument("--test-views", type=_views, metavar="VIEW[,...]",
                       help="views the run's answers average: identity, identity,mirror, or all six of "
                            "identity,mirror,down_right,up_left,mirror_down_right,mirror_up_left")
    group.add_argument("--tta-flip", action=argparse.BooleanOptionalAction,
                       help="shorthand for --test-views identity,mirror (or identity)")
    group.add_argument("--early-stopping", type=int, metavar="PATIENCE")
    group.add_argument("--reduce-lr-patience", type=int, metavar="PATIENCE")
    group.add_argument("--monitor", help="val_accuracy | val_loss: picks the best checkpoint")
    group.add_argument("--seed", type=int, help="seeds weights, shuffling and augmentation (default 0)")
    group.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, help="write TensorBoard logs")


def _add_run_commands(sub: Any) -> None:
    evaluate = sub.add_parser("evaluate", help="evaluate a run on a split")
    evaluate.add_argument("run")
    evaluate.add_argument("--data", help="evaluate on another source with the same classes")
    evaluate.add_argument("--split", default="test", choices=SPLITS)
    evaluate.add_argument("--top-k", type=int, default=3)
    evaluate.add_argument("--runs")

    export = sub.add_parser("export", help="export a run to TFLite (with its bundle .zip) or SavedModel, verified")
    export.add_argument("run")
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--out", help="output path (default: inside the run's exports/); a TFLite file's bundle "
                                      "(model, labels, PREPROCESSING.md, predict.py) is written beside it as .zip")
    export.add_argument("--runs")
    _add_file_commands(sub)


def _add_file_commands(sub: Any) -> None:
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

    audit = sub.add_parser("audit", help="find duplicates, leakage, label problems and poor images in a dataset")
    audit.add_argument("source", help="digits | mnist | fashion_mnist | cifar10 | DIR | ZIP")
    audit.add_argument("--write-exclusions", metavar="FILE",
                       help="write the ids that excluding the findings leaves out, for `train --exclude FILE`")
    audit.add_argument("--kinds", type=_kind_list,
                       help="with --write-exclusions: only these finding kinds, comma-separated (default: all)")
    audit.add_argument("--out", metavar="FILE", help="also save the full report as JSON")

    report = sub.add_parser("report", help="write the run's model card (HTML and Markdown)")
    report.add_argument("run")
    report.add_argument("--out", help="output folder (default: the run's report/)")
    report.add_argument("--runs")


#: Flags whose name is not the dataclass field's: flag dest -> field.
_DATA_RENAMES = {"data": "source", "split_seed": "seed"}
_TRAIN_RENAMES = {"time_budget": "time_budget_minutes"}


def request_from_args(args: argparse.Namespace) -> Any:
    """The ``TrainRequest`` the train flags describe (``--request FILE`` loads a saved one).

    Raises:
        ConfigError: an invalid setting, or settings given next to ``--request``.
    """
    from dataclasses import fields, replace

    from cnnlib.data.config import DataConfig
    from cnnlib.errors import ConfigError
    from cnnlib.training.config import TrainConfig
    from cnnlib.training.recipes import DEFAULT_SOURCE
    from cnnlib.training.request import TrainRequest, model_option_names, resolve_defaults

    def given(names: list[str], renames: dict[str, str]) -> dict[str, Any]:
        flag_of = {field: flag for flag, field in renames.items()}
        return {name: getattr(args, flag_of.get(name, name)) for name in names
                if getattr(args, flag_of.get(name, name), None) is not None}

    data = given([item.name for item in fields(DataConfig)], _DATA_RENAMES)
    model = given(list(model_option_names()), {})
    train = given([item.name for item in fields(TrainConfig)], _TRAIN_RENAMES)
    if args.tta_flip is not None and "test_views" not in train:
        from cnnlib.spec import DEFAULT_VIEWS, MIRRORED_VIEWS

        train["test_views"] = MIRRORED_VIEWS if args.tta_flip else DEFAULT_VIEWS
    if args.request:
        if data or model or train:
            raise ConfigError(f"a saved request ({args.request}) holds every setting; give it without "
                              f"other training settings (received {', '.join(sorted({**data, **model, **train}))})")
        request = TrainRequest.load(args.request)
        return replace(request, name=args.name or request.name, run_id=args.run_id or request.run_id)
    data.setdefault("source", DEFAULT_SOURCE)
    return resolve_defaults(data, model, train, name=args.name, run_id=args.run_id)


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
    from cnnlib.training import resume
    from cnnlib.training.trainer import train_request

    bar = _ProgressBar()
    if args.resume:
        return resume(args.resume, runs_dir=args.runs, on_event=bar).to_dict()
    request = request_from_args(args)
    if sys.stderr.isatty():
        sys.stderr.write(f"loading {request.data.source} ...\n")
    result = train_request(request, runs_dir=args.runs, on_event=bar)
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


def _cmd_audit(args: argparse.Namespace) -> Any:
    from cnnlib.audit import KIND_TITLES, audit_source, exclusions_for, write_exclusions
    from cnnlib.io import atomic_write_json

    report = audit_source(args.source, progress=lambda line: sys.stderr.write(line + "\n"))
    for kind, count in report.counts().items():
        sys.stderr.write(f"{count:>7,}  {KIND_TITLES[kind]}\n")
    for line in [*(f"unreadable: {item['path']}: {item['reason']}" for item in report.unreadable), *report.notes]:
        sys.stderr.write(f"note: {line}\n")
    result = report.to_dict()
    if args.write_exclusions:
        ids = exclusions_for(report.findings, args.kinds)
        write_exclusions(args.write_exclusions, ids, args.source)
        result["exclusions"] = {"path": str(args.write_exclusions), "count": len(ids)}
        sys.stderr.write(f"wrote {len(ids):,} ids to {args.write_exclusions}; train with --exclude {args.write_exclusions}\n")
    if args.out:
        atomic_write_json(args.out, result)
    return result


def _cmd_archs(args: argparse.Namespace) -> Any:
    from cnnlib.models import list_architectures

    return list_architectures()


def _cmd_runs(args: argparse.Namespace) -> Any:
    from cnnlib.runs import RunStore

    action = getattr(args, "runs_action", None)
    if action == "rename":
        from cnnlib.run_admin import rename_run

        return rename_run(args.run, args.name, runs_dir=args.runs)
    if action == "delete":
        return _delete_run(args)
    return RunStore(args.runs).list()


def _delete_run(args: argparse.Namespace) -> Any:
    """``runs delete``: asks first on a terminal; a script must say ``--yes``."""
    from cnnlib.errors import RunError
    from cnnlib.run_admin import delete_refusal, delete_run

    refusal = delete_refusal(args.run, runs_dir=args.runs)  # an unknown or protected run fails before asking
    if refusal:
        raise RunError(refusal)
    if not args.yes:
        if not sys.stdin.isatty():
            raise RunError(f"deleting run {args.run!r} cannot be undone; pass --yes to confirm "
                           "(there is no terminal to ask)")
        sys.stderr.write(f"Delete run {args.run!r} and all its files? This cannot be undone. [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise RunError(f"run {args.run!r} was not deleted (the answer was not yes)")
    result = delete_run(args.run, runs_dir=args.runs)
    sys.stderr.write(f"deleted run {result['deleted']}" + (" (stopped first)" if result["stopped"] else "") + "\n")
    return result


COMMANDS = {"train": _cmd_train, "evaluate": _cmd_evaluate, "export": _cmd_export, "predict": _cmd_predict,
            "explain": _cmd_explain, "report": _cmd_report, "audit": _cmd_audit, "archs": _cmd_archs, "runs": _cmd_runs}


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
        from cnnlib.training import clock

        clock.start_budget_at_process_start()  # --time-budget is the whole command's wall time
    if args.command not in ("runs", "audit"):
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
