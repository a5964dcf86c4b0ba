"""Errors a user can act on, each with the exit code a Kubernetes podFailurePolicy keys on."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # a bug or an unexpected failure: read the message, re-run with --verbose
    CONFIG = 2  # configuration, usage or input data: retrying cannot help (podFailurePolicy: FailJob)
    TRANSIENT = 3  # MLflow unreachable after retries: retrying later can help (podFailurePolicy: retry)


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
