"""The umbrella release the end-to-end suite installs, and the helm values it installs it with."""

from __future__ import annotations

import os
from functools import cache

from tests.cluster.kube import read_env_file
from tests.support.api_server import cidr, endpoints

from .kube import ROOT, TARGET, kubectl_json

RELEASE = "mlkube"
UMBRELLA = ROOT / "charts" / "mlkube"
# The profiles `make up` installs on each target, then the local profile: what the suite tests (the Gateway route,
# KEDA, a 5 s scrape) on either cluster. On kind, the kind profiles' NodePorts still serve localhost:8080, 5000 and
# 9090 (manifests/kind-config.yaml), and the kind-offline profile leaves out Grafana.
PROFILES = {"local": ["local"], "kind": ["kind", "kind-offline", "local"]}[TARGET]
TIMINGS: dict[str, float] = {}


PLATFORM = read_env_file(ROOT / "platform.env")
# The local cluster's Gateway API implementation (manifests/gateway/, installed by the platform role).
GATEWAY_NAMESPACE = PLATFORM["GATEWAY_NAMESPACE"]
GATEWAY_NAME = PLATFORM["GATEWAY_NAME"]


# The digits Job needs the torch build of the training image: `make test-e2e WITH_TORCH=true` builds it
# and runs the Job; the default (CI) build leaves torch out, and the Job with it.
WITH_TORCH = os.environ.get("WITH_TORCH", "false") == "true"


def platform_values(**overrides: str) -> list[str]:
    """helm arguments: the target's profiles (written for the release name `mlkube`) plus the overrides."""
    args = [arg for name in PROFILES for arg in ("-f", str(UMBRELLA / "profiles" / f"{name}.yaml"))]
    args += api_server_values()
    if WITH_TORCH:  # the digits Job registers the network (as ONNX): the server serves it too
        args += ["--set", "model-server.server.models.digits-cnn=models:/digits-cnn@champion"]
    else:
        args += ["--set", "training-job.jobs.digits.enabled=false"]
    for key, value in overrides.items():
        # Versions and tags are strings in the charts' schemas even when they look like numbers.
        flag = "--set-string" if key.endswith(("version", ".tag")) else "--set"
        args += [flag, f"{key}={value}"]
    return args


@cache
def api_server_endpoints() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The API server's addresses and ports: the `kubernetes` Service's endpoints, as the platform role reads them."""
    slices = kubectl_json("get", "endpointslices", "-l", "kubernetes.io/service-name=kubernetes", namespace="default")
    addresses, ports = endpoints(slices)
    return tuple(addresses), tuple(ports)


@cache
def api_server_values() -> tuple[str, ...]:
    """The API server's endpoints, as `make up` passes them (ansible/roles/platform, global.networkPolicy): the
    egress policies of the pods that call the API admit these addresses and ports only."""
    addresses, ports = api_server_endpoints()
    args = ["--set", "global.networkPolicy.apiServerPorts={" + ",".join(map(str, ports)) + "}"]
    for i, address in enumerate(addresses):
        args += ["--set", f"global.networkPolicy.apiServer[{i}].ipBlock.cidr={cidr(address)}"]
    return tuple(args)
