"""The umbrella release the end-to-end suite installs, and the helm values it installs it with."""

from __future__ import annotations

from .kube import ROOT

RELEASE = "mlkube"
UMBRELLA = ROOT / "charts" / "mlkube"
PROFILE = UMBRELLA / "profiles" / "local.yaml"
TIMINGS: dict[str, float] = {}


def platform_values(**overrides: str) -> list[str]:
    """helm arguments: the local profile (written for the release name `mlkube`) plus the overrides."""
    args = ["-f", str(PROFILE)]
    for key, value in overrides.items():
        # Versions and tags are strings in the charts' schemas even when they look like numbers.
        flag = "--set-string" if key.endswith(("version", ".tag")) else "--set"
        args += [flag, f"{key}={value}"]
    return args
