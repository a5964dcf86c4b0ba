"""Errors a user can act on, each with the exit code a Kubernetes podFailurePolicy keys on."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # a bug or an unexpected failure: read the message, re-run with --verbose
    CONFIG = 2  # configuration, usage or input data: retrying cannot help (podFailurePolicy: FailJob)
    TRANSIENT = 3  # MLflow unreachable after retries: retrying later can help (podFailurePolicy: retry)
    TERMINATED = 143  # SIGTERM (a deleted pod, a drained node): 128 + 15, as a shell reports it


class Terminated(SystemExit):
    """Raised in the main thread by the SIGTERM handler. A BaseException, as KeyboardInterrupt is, so that
    every ``except BaseException`` clean-up runs: the failure is pushed for the training alerts, the MLflow run
    ends FAILED, and a version being registered is deleted again (registry.register_version)."""

    def __init__(self) -> None:
        super().__init__(ExitCode.TERMINATED)

    def __str__(self) -> str:  # the run's failure tag (jobrun.tracked_run), not the bare exit code
        return "terminated by SIGTERM"


class TrainError(Exception):
    """Base class: the message is one line telling what failed and what to do."""

    exit_code = ExitCode.FAILURE


class ConfigError(TrainError):
    exit_code = ExitCode.CONFIG


class DataError(TrainError):
    """Input data out of range, missing columns or unusable; a configuration problem for the Job."""

    exit_code = ExitCode.CONFIG


class TransientError(TrainError):
    exit_code = ExitCode.TRANSIENT
