"""The bodies of the ``mlkube-train`` commands (cli.py parses the command line and turns errors into exit codes)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .errors import ConfigError, ExitCode
from .results import ModelResult, write_summary
from .settings import JobSettings
from .tracking import configure_tracking, transient_guard

TRAINING_COMMANDS = ("penguins", "digits", "penguins-xgboost")


def run(args: argparse.Namespace, settings: JobSettings) -> int:
    started = time.monotonic()
    if args.command in TRAINING_COMMANDS:
        check_before_tracking(args.command, settings)
    tracking_uri = configure_tracking(settings)
    if args.command in TRAINING_COMMANDS:
        train(args, settings, tracking_uri, started)
    elif args.command == "promote":
        promote(args)
    elif args.command == "sign":
        sign(args, settings)
    elif args.command == "score":
        score(args)
    elif args.command == "list":
        from .registry import list_models

        for line in transient_guard("listing models", list_models):
            print(line)
    return ExitCode.OK


def check_before_tracking(command: str, settings) -> None:
    """Checks that need no MLflow run: a typo fails in a second, before anything is written."""
    if command == "digits":
        from .digits.train import check_device

        check_device(settings)
    elif command == "penguins":
        from .penguins.train import validate_grids

        validate_grids(settings)


def train(args: argparse.Namespace, settings, tracking_uri: str, started: float) -> None:
    results: list[ModelResult]
    if args.command == "penguins":
        from .penguins.train import train_penguins

        results = train_penguins(settings, tracking_uri)
        done = f"{len(results)} model(s) trained"
    elif args.command == "digits":
        from .digits.train import train_digits

        results, done = [train_digits(settings, tracking_uri)], "trained"
    else:
        from .penguins.boosted import train_boosted

        results, done = [train_boosted(settings, tracking_uri)], "trained"
    write_summary(args.summary_file, args.command, tracking_uri, results)
    print(f"{args.command}: {done} in {time.monotonic() - started:.1f}s ({tracking_uri})")


def promote(args: argparse.Namespace) -> None:
    from mlflow import MlflowClient

    from .model_tags import ALIAS_CHALLENGER
    from .registry import promote as move_alias
    from .registry import wait_for_rollout

    alias = ALIAS_CHALLENGER if args.via_rollout else args.alias
    version, previous = transient_guard(
        "promoting", lambda: move_alias(MlflowClient(), args.name, alias, args.target_version, args.from_alias)
    )
    print(f"{args.name}@{alias} -> version {version} (was {previous or 'unset'})")
    summary = {"name": args.name, "alias": alias, "version": version, "previous": previous}
    if args.via_rollout:
        print(
            "the rollout trigger starts the progressive rollout of this version; watch it with\n"
            "  kubectl argo rollouts get rollout <release>-model-server --watch\n"
            "the outcome lands on the version's rollout_outcome tag (mlkube-train list, or --wait SECONDS)"
        )
        if args.wait > 0:
            outcome = transient_guard(
                "waiting", lambda: wait_for_rollout(MlflowClient(), args.name, version, args.wait)
            )
            print(f"{args.name} version {version}: {outcome or f'no outcome within {args.wait:.0f}s'}")
            summary["rollout_outcome"] = outcome
    write_json(args.summary_file, summary)


def sign(args: argparse.Namespace, settings: JobSettings) -> None:
    from mlflow import MlflowClient

    from .signing import Signer

    if settings.signing_key is None:
        raise ConfigError("set MLKUBE_TRAIN_SIGNING_KEY to the platform's signing key (PEM) to sign a version")
    signer = Signer(settings.signing_key.get_secret_value())
    digest = transient_guard("signing", lambda: signer.sign_version(MlflowClient(), args.name, args.target_version))
    print(f"{args.name} version {args.target_version} signed (artifacts sha256 {digest})")
    write_json(args.summary_file, {"name": args.name, "version": args.target_version, "sha256": digest})


def score(args: argparse.Namespace) -> None:
    from .scoring import score_file

    summary = transient_guard(
        "scoring", lambda: score_file(args.model_uri, args.input, args.output, args.on_out_of_range)
    )
    print(
        f"scored {summary['rows']} rows with {summary['model_name']} version {summary['model_version']} "
        f"-> {args.output} ({summary['out_of_range_rows']} out of range)"
    )
    write_json(args.summary_file, summary)


def write_json(path: Path | None, payload: dict) -> None:
    if path is not None:
        path.write_text(json.dumps(payload, indent=2, sort_keys=True))
