"""3c. NetworkPolicies, enforced (issue 14.2): a pod outside the allowed set cannot reach MLflow, PostgreSQL, the
Pushgateway or Prometheus; the same pod with the clients' labels can, and MLflow reaches PostgreSQL. Removing a
policy opens its component to the outsider, which the test proves once and then puts the policy back. A model
server, which runs a model's own code, reaches MLflow and nothing else it has no business with; a training Job's pod
reaches MLflow and the Pushgateway only; MLflow, which holds the registry's credentials, reaches its database and
nothing else.

The local cluster enforces policies with kube-router's policy controller (ansible/roles/local_cluster). Each probe
is a TCP connect from inside a long-lived pod (kubectl exec); the probes' own addresses join the policies'
ipsets on kube-router's next sync after they start, so a probe that must succeed is retried until it does.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from .kube import connects, kubectl, kubectl_json, ready, wait_for
from .platform import PLATFORM, RELEASE
from .rollout import running_server_pod

CLIENT_LABELS = {PLATFORM[key]: "true" for key in ("LABEL_MLFLOW_CLIENT", "LABEL_PUSHGATEWAY_CLIENT",
                                                     "LABEL_PROMETHEUS_CLIENT")}  # fmt: skip
# What the training Jobs' pods carry (the training-job chart's NetworkPolicy selects them by it).
TRAINING_JOB_LABELS = {
    "app.kubernetes.io/name": "training-job",
    "app.kubernetes.io/instance": RELEASE,
    "mlkube.io/job-type": "train",
    **CLIENT_LABELS,
}
# Service name and port of each guarded component, and the policy that guards it.
GUARDED = {
    "mlflow": (f"{RELEASE}-mlflow", int(PLATFORM["MLFLOW_PORT"]), f"{RELEASE}-mlflow"),
    "pushgateway": (f"{RELEASE}-monitoring-pushgateway", int(PLATFORM["PUSHGATEWAY_PORT"]),
                    f"{RELEASE}-monitoring-pushgateway"),
    "prometheus": (f"{RELEASE}-monitoring-prometheus", int(PLATFORM["PROMETHEUS_PORT"]),
                   f"{RELEASE}-monitoring-prometheus"),
}  # fmt: skip
POSTGRES = (f"{RELEASE}-mlflow-postgres", 5432)
SERVER = (f"{RELEASE}-model-server", int(PLATFORM["MODEL_SERVER_PORT"]))  # open to every pod: the control
SYNC_S = 60.0


def _probe_pod(name: str, labels: dict[str, str]) -> dict:
    image = f"{PLATFORM['MODEL_SERVER_IMAGE']}:{PLATFORM['IMAGE_TAG']}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/component": "network-probe", **labels}},
        "spec": {
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python", "-c", "import signal; signal.pause()"],
                    "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def _until_connects(target: str, host: str, port: int, *exec_args: str) -> None:
    wait_for(f"{target} to reach {host}:{port}", lambda: connects(target, host, port, *exec_args), timeout=SYNC_S)


@pytest.fixture(scope="module")
def probes(platform):
    """An outsider (no labels), an insider (every client label) and a pod the training Jobs' policy selects, all
    Ready and seen by the policy sync."""
    suffix = uuid.uuid4().hex[:6]
    names = {"outsider": f"probe-out-{suffix}", "insider": f"probe-in-{suffix}", "trainer": f"probe-job-{suffix}"}
    for role, labels in (("outsider", {}), ("insider", CLIENT_LABELS), ("trainer", TRAINING_JOB_LABELS)):
        kubectl("apply", "-f", "-", input=json.dumps(_probe_pod(names[role], labels)))
    for name in names.values():
        wait_for(f"{name} Ready", lambda name=name: ready(kubectl_json("get", "pod", name)), timeout=120)
    # The control: MLflow admits the insider and the trainer, the model server every pod that may call out.
    _until_connects(names["outsider"], *SERVER)
    _until_connects(names["insider"], *SERVER)
    _until_connects(names["trainer"], *GUARDED["mlflow"][:2])
    yield names
    for name in names.values():
        kubectl("delete", "pod", name, "--wait=false", check=False)


@pytest.mark.parametrize("component", sorted(GUARDED))
def test_only_the_clients_reach_a_guarded_component(probes, component: str) -> None:
    host, port, _ = GUARDED[component]
    _until_connects(probes["insider"], host, port)
    assert not connects(probes["outsider"], host, port), f"a pod without the client label reached {component}"


def test_only_mlflow_reaches_postgresql(probes) -> None:
    _until_connects(f"deployment/{RELEASE}-mlflow", *POSTGRES, "-c", "mlflow")
    for name in probes.values():  # even a pod with every client label, or a training Job's
        assert not connects(name, *POSTGRES), f"{name} reached PostgreSQL"


def test_removing_a_policy_opens_the_component_and_putting_it_back_closes_it(probes) -> None:
    host, port, policy_name = GUARDED["pushgateway"]
    policy = kubectl_json("get", "networkpolicy", policy_name)
    for field in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        policy["metadata"].pop(field, None)
    kubectl("delete", "networkpolicy", policy_name)
    try:
        _until_connects(probes["outsider"], host, port)
    finally:
        kubectl("apply", "-f", "-", input=json.dumps(policy))
    deadline = time.monotonic() + SYNC_S
    while connects(probes["outsider"], host, port):
        assert time.monotonic() < deadline, f"{policy_name} put back, yet the outsider still reaches {host}:{port}"
        time.sleep(2)


def test_a_model_server_reaches_mlflow_and_nothing_else(probes) -> None:
    server = running_server_pod()
    _until_connects(server, *GUARDED["mlflow"][:2], "-c", "server")
    api = kubectl_json("get", "service", "kubernetes", namespace="default")["spec"]["clusterIP"]
    for host, port in (GUARDED["prometheus"][:2], GUARDED["pushgateway"][:2], (api, 443), POSTGRES):
        assert not connects(server, host, port, "-c", "server"), f"a model server reached {host}:{port}"


def test_a_training_job_reaches_mlflow_and_the_pushgateway_and_nothing_else(probes) -> None:
    trainer = probes["trainer"]
    _until_connects(trainer, *GUARDED["pushgateway"][:2])
    api = kubectl_json("get", "service", "kubernetes", namespace="default")["spec"]["clusterIP"]
    for host, port in (GUARDED["prometheus"][:2], SERVER, (api, 443), POSTGRES):
        assert not connects(trainer, host, port), f"a training Job reached {host}:{port}"


def test_mlflow_reaches_its_database_and_nothing_else(probes) -> None:
    mlflow = f"deployment/{RELEASE}-mlflow"
    _until_connects(mlflow, *POSTGRES, "-c", "mlflow")
    api = kubectl_json("get", "service", "kubernetes", namespace="default")["spec"]["clusterIP"]
    for host, port in (GUARDED["prometheus"][:2], GUARDED["pushgateway"][:2], SERVER, (api, 443)):
        assert not connects(mlflow, host, port, "-c", "mlflow"), f"MLflow reached {host}:{port}"
