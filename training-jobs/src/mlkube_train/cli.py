"""``mlkube-train``: one entry point for the training jobs, promotion and batch scoring."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Any, get_origin

from pydantic.fields import FieldInfo

from . import __version__
from .errors import ConfigError, ExitCode, Terminated, TrainError
from .model_tags import ALIAS_CHAMPION
from .settings import (
    ENV_PREFIX,
    BoostedSettings,
    ConnectionSettings,
    DigitsSettings,
    JobSettings,
    PenguinsSettings,
    load_settings,
)

EPILOG = f"""\
settings: defaults < --config FILE (YAML) < environment ({ENV_PREFIX}<FIELD>, e.g. {ENV_PREFIX}SEED=7;
          MLFLOW_TRACKING_URI and MLKUBE_PUSHGATEWAY_URL as is) < command-line flags.
          Lists and grids take JSON on flags and env, e.g. --grids '{{"svm": {{"C": [1, 10]}}}}'.
tracking: MLFLOW_TRACKING_URI points at an MLflow server; unset, runs go to ./.mlkube/mlruns.db
          (SQLite) with artifacts in ./.mlkube/artifacts.
exit codes:
  0  success
  1  unexpected failure (a bug: re-run with --verbose for the traceback)
  2  configuration or usage error: unknown/invalid setting, GPU asked for but absent, out-of-range or
     malformed input data, unknown model/alias. Retrying cannot help (Kubernetes podFailurePolicy: FailJob).
  3  transient: MLflow unreachable after the configured retries. Retrying later can help.
  143  terminated (SIGTERM: the pod was deleted or evicted): the run in progress is marked FAILED, its
     failure pushed, and a model version it was registering is deleted again.
"""

log = logging.getLogger("mlkube_train")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _is_structured(field: FieldInfo) -> bool:
    return get_origin(field.annotation) is dict


def add_settings_flags(parser: argparse.ArgumentParser, settings_cls: type[JobSettings]) -> None:
    """One flag per settings field; values stay strings (or JSON) and pydantic validates them."""
    group = parser.add_argument_group(f"settings (also {ENV_PREFIX}<FIELD> env vars or the --config file)")
    for name, field in settings_cls.model_fields.items():
        if settings_cls is ConnectionSettings and name == "experiment":
            continue
        if "SecretStr" in str(field.annotation):  # secrets never on a command line (ps, shell history)
            continue
        help_text = field.description or ""
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            help_text += f" [{'|'.join(m.value for m in annotation)}]"
        default = field.get_default(call_default_factory=True)
        if default is not None and not isinstance(default, (dict, list)):
            shown = default.value if isinstance(default, Enum) else default
            help_text += f" (default: {shown})"
        group.add_argument(
            _flag(name), dest=f"setting__{name}", metavar="JSON" if _is_structured(field) else "VALUE", help=help_text
        )
    parser.add_argument("--config", type=Path, help="YAML file with settings (see training-jobs/configs/)")
    parser.add_argument("--summary-file", type=Path, help="write a JSON summary of what got registered here")


def collect_overrides(args: argparse.Namespace, settings_cls: type[JobSettings]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for key, value in vars(args).items():
        if not key.startswith("setting__") or value is None:
            continue
        name = key.removeprefix("setting__")
        field = settings_cls.model_fields[name]
        if _is_structured(field):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"invalid setting {name} = {value!r}: not valid JSON ({exc.msg})") from None
        overrides[name] = value
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlkube-train",
        description="Train, register, promote and batch-score mlkube models (MLflow registry).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mlkube-train {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, settings_cls: type[JobSettings]) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(settings_cls=settings_cls)
        add_settings_flags(p, settings_cls)
        return p

    command(
        "penguins", "Train penguins species classifiers (scikit-learn grid search) and register them.", PenguinsSettings
    )
    command("digits", "Train the digits CNN (PyTorch, CPU or CUDA) and register it.", DigitsSettings)
    command(
        "penguins-xgboost",
        "Train the XGBoost penguins classifier (MLflow xgboost flavor, served through pyfunc) and register it.",
        BoostedSettings,
    )

    promote = command(
        "promote", "Point an alias (e.g. champion) of a registered model at a version.", ConnectionSettings
    )
    promote.add_argument("--name", required=True, help="registered model, e.g. penguins-svm")
    promote.add_argument("--alias", default=ALIAS_CHAMPION, help=f"alias to move (default: {ALIAS_CHAMPION})")
    target = promote.add_mutually_exclusive_group(required=True)
    target.add_argument("--version", dest="target_version", help="version number to point the alias at")
    target.add_argument("--from-alias", help="point the alias where this other alias points (e.g. challenger)")
    promote.add_argument(
        "--via-rollout",
        action="store_true",
        help="set @challenger instead: mlkube-rollout-trigger starts the progressive rollout and moves @champion "
        "only if the rollout succeeds (an aborted one tags the version with the reason)",
    )
    promote.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS", help="with --via-rollout: wait this long for the outcome"
    )

    sign = command(
        "sign",
        "Sign a registered version with the platform's key (MLKUBE_TRAIN_SIGNING_KEY), as the trainers sign theirs, "
        "so that model servers requiring signatures load it.",
        ConnectionSettings,
    )
    sign.add_argument("--name", required=True, help="registered model, e.g. iris-xgboost")
    sign.add_argument("--version", dest="target_version", required=True, help="version number to sign")

    score = command("score", "Batch-score a CSV/Parquet file with a registered model.", ConnectionSettings)
    score.add_argument("--model-uri", required=True, help="models:/NAME@ALIAS or models:/NAME/VERSION")
    score.add_argument("--input", required=True, type=Path, help="CSV or Parquet file with the model's input columns")
    score.add_argument("--output", required=True, type=Path, help="CSV or Parquet file to write (by extension)")
    score.add_argument(
        "--on-out-of-range",
        choices=("flag", "error"),
        default="flag",
        help="values outside the training ranges: flag them in an out_of_range column, or fail with exit 2",
    )

    command("list", "List registered models with their aliases and latest versions.", ConnectionSettings)
    return parser


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("mlflow", "alembic", "urllib3", "git", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _raise_terminated(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors exit 2 (argparse)
    # As PID 1 of a container the trainer would ignore SIGTERM (no default action there) and die by SIGKILL
    # at the end of the grace period, with nothing reported: turn it into an exception that unwinds.
    signal.signal(signal.SIGTERM, _raise_terminated)
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")  # images without git: no GitPython warning wall
    _setup_logging(args.verbose)
    try:
        from .commands import run

        settings_cls = args.settings_cls
        return int(run(args, load_settings(settings_cls, args.config, collect_overrides(args, settings_cls))))
    except TrainError as exc:
        if args.verbose:
            log.exception("details")
        print(f"mlkube-train {args.command}: error: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print(f"mlkube-train {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(
            f"mlkube-train {args.command}: terminated by SIGTERM: the run in progress is marked failed and a "
            "model version it was registering is deleted again",
            file=sys.stderr,
        )
        return int(ExitCode.TERMINATED)
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, traceback with --verbose
        if args.verbose:
            log.exception("unexpected failure")
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"mlkube-train {args.command}: unexpected {type(exc).__name__}: {first[:300]} "
            f"(re-run with --verbose for details)",
            file=sys.stderr,
        )
        return int(ExitCode.FAILURE)
