"""What the fault suite does to the platform and what it reads back: the registry's state, the faults, the table."""

from __future__ import annotations

import copy
import dataclasses
import json

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mlkube_server import metric_names as server_metrics
from mlkube_server.repository import State

from .kube import CACHE, kubectl, kubectl_json, node_runtime, ready, wait_for
from .platform import RELEASE
from .registry_versions import client
from .rollout import serving_pods

MLFLOW = f"deployment/{RELEASE}-mlflow"
POSTGRES = f"statefulset/{RELEASE}-mlflow-postgres"
REPORT = CACHE / "e2e" / "faults.txt"
TRAINING_JOBS = "app.kubernetes.io/name=training-job"


@dataclasses.dataclass(frozen=True)
class RegistryState:
    """Everything of the registry a fault must not lose: runs, versions (with their run), aliases."""

    runs: frozenset[str]
    versions: frozenset[tuple[str, str, str]]
    aliases: frozenset[tuple[str, str, str]]

    def lost_since(self, before: RegistryState) -> list[str]:
        missing = [f"run {r}" for r in before.runs - self.runs]
        missing += [f"version {n}/{v}" for n, v, _ in before.versions - self.versions]
        missing += [f"alias {n}@{a} -> {v}" for n, a, v in before.aliases - self.aliases]
        return missing


def registry_state(mlflow_url: str) -> RegistryState:
    registry = client(mlflow_url)
    runs = frozenset(r.info.run_id for r in _all_runs(mlflow_url))
    versions, aliases = set(), set()
    for model in registry.search_registered_models(max_results=1000):
        for version in registry.search_model_versions(f"name='{model.name}'", max_results=1000):
            versions.add((model.name, str(version.version), str(version.run_id)))
        aliases |= {(model.name, alias, str(v)) for alias, v in (model.aliases or {}).items()}
    return RegistryState(runs, frozenset(versions), frozenset(aliases))


def served_versions(server_url: str) -> dict[str, str]:
    """{model: version} of the models a server answers for, from its `/models`."""
    listing = httpx.get(f"{server_url}/models", timeout=10).raise_for_status().json()["models"]
    return {m["name"]: str(m.get("version")) for m in listing if m["state"] == State.READY}


def workloads_not_ready(namespaces: list[str]) -> list[str]:
    """The Deployments and StatefulSets of `namespaces` with fewer ready replicas than they want."""
    waiting = []
    for namespace in namespaces:
        for item in kubectl_json("get", "deployments,statefulsets", namespace=namespace)["items"]:
            wanted, ready_now = item["spec"].get("replicas", 1), item["status"].get("readyReplicas", 0)
            if ready_now < wanted:
                waiting.append(f"{namespace}/{item['kind'].lower()}/{item['metadata']['name']} {ready_now}/{wanted}")
    return waiting


def restart_counts() -> dict[str, int]:
    """{pod/container: restarts} of every container of the release's namespace."""
    items = kubectl_json("get", "pods")["items"]
    return {f"{p['metadata']['name']}/{c['name']}": int(c["restartCount"])
            for p in items for c in p["status"].get("containerStatuses", [])}  # fmt: skip


def pod_url(pod: dict) -> str:
    """http://<pod IP>:<server port>: the node (this host) reaches pod addresses directly."""
    return f"http://{pod['status']['podIP']}:{pod['spec']['containers'][0]['ports'][0]['containerPort']}"


def accepted_latency_buckets() -> dict[float, float]:
    """{upper bound: count} of the request-duration histogram of answered (200) predictions, summed over the server
    pods (read from each pod, so no scrape interval blurs a short window): what the latency SLO is computed from."""
    buckets: dict[float, float] = {}
    for pod in serving_pods():
        text = httpx.get(f"{pod_url(pod)}/metrics", timeout=10).raise_for_status().text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == f"{server_metrics.REQUEST_DURATION_SECONDS}_bucket" and (
                    sample.labels.get(server_metrics.CODE) == "200"
                ):
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def share_within(before: dict[float, float], after: dict[float, float], seconds: float) -> tuple[float, float]:
    """(requests, share of them answered within `seconds`) between two readings of accepted_latency_buckets;
    `seconds` must be a bucket bound."""
    total = after[float("inf")] - before.get(float("inf"), 0.0)
    within = after[seconds] - before.get(seconds, 0.0)
    return total, (within / total if total else float("nan"))


def all_servers_ready(count: int) -> bool:
    live = serving_pods()
    return len(live) == count and all(ready(p) for p in live)


def force_delete(pod: dict) -> None:
    kubectl("delete", "pod", pod["metadata"]["name"], "--grace-period=0", "--force", "--wait=false")


def kill_on_the_node(pod: dict) -> int:
    """SIGKILL of the server's process by the node's container runtime, as `crictl stop` does, behind the kubelet's
    back; returns the container's restart count before the kill."""
    status = pod["status"]["containerStatuses"][0]
    container_id = status["containerID"].removeprefix("containerd://")
    node_runtime(pod["spec"]["nodeName"], "tasks", "kill", "--signal", "SIGKILL", container_id)
    return int(status["restartCount"])


def restarted(pod_name: str, before: int) -> bool:
    pod = kubectl_json("get", "pod", pod_name)
    return int(pod["status"]["containerStatuses"][0]["restartCount"]) > before and ready(pod)


def scale(workload: str, replicas: int) -> None:
    kubectl("scale", workload, f"--replicas={replicas}")


def rollout_done(workload: str, timeout: str = "10m") -> None:
    kubectl("rollout", "status", workload, f"--timeout={timeout}", timeout=630)


def wait_mlflow_answers(mlflow_url: str, timeout: float = 300) -> None:
    wait_for("MLflow to answer with its registry", lambda: _answers(mlflow_url), timeout=timeout, interval=3)


def _answers(mlflow_url: str) -> bool:
    try:
        client(mlflow_url).search_registered_models(max_results=1)
    except Exception:  # noqa: BLE001 - any failure means "not yet": connection refused, 503, database down
        return False
    return True


def start_copy_of_training_job(trainer: str, suffix: str, retries: bool = False, args: list[str] | None = None) -> str:
    """A new Job with the spec of the release's `trainer` Job; without `retries`, a pod that fails fails the Job;
    `args` replaces the trainer's arguments. Returns its name."""
    names = {j["metadata"]["name"]: j for j in kubectl_json("get", "jobs", "-l", TRAINING_JOBS)["items"]}
    (job,) = [j for name, j in names.items() if f"-{trainer}-" in name and not name.endswith(f"-{suffix}")]
    name = f"{job['metadata']['name'][:50]}-{suffix}"
    spec = copy.deepcopy(job["spec"])
    for generated in ("selector", "manualSelector") if retries else ("selector", "manualSelector", "podFailurePolicy"):
        spec.pop(generated, None)
    labels = spec["template"]["metadata"].get("labels", {})
    for key in [k for k in labels if k.startswith(("batch.kubernetes.io/", "controller-uid", "job-name"))]:
        del labels[key]
    if not retries:
        spec["backoffLimit"] = 0
    if args is not None:
        (trainer_container,) = [c for c in spec["template"]["spec"]["containers"] if c["name"] == "trainer"]
        trainer_container["args"] = args
    keep = {
        k: v
        for k, v in job["metadata"].get("labels", {}).items()
        if not k.startswith(("batch.", "controller-uid", "job-name"))
    }
    manifest = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": keep}, "spec": spec}
    kubectl("apply", "-f", "-", input=json.dumps(manifest))
    return name


def _all_runs(mlflow_url: str, query: str = "", max_results: int = 5000) -> list:
    """Tracked runs of every experiment (MLflow searches runs per experiment)."""
    registry = client(mlflow_url)
    experiments = [e.experiment_id for e in registry.search_experiments()]
    return registry.search_runs(experiments, query, max_results=max_results)


def running_run_since(mlflow_url: str, since: float) -> str | None:
    """The id of a tracked run that started after `since` (Unix seconds) and is still running, if any."""
    runs = _all_runs(mlflow_url, "attributes.status = 'RUNNING'", max_results=50)
    return next((r.info.run_id for r in runs if r.info.start_time >= since * 1000), None)


def runs_since(mlflow_url: str, since: float) -> dict[str, str]:
    """{run id: status} of the runs started after `since` (Unix seconds)."""
    return {r.info.run_id: r.info.status for r in _all_runs(mlflow_url) if r.info.start_time >= since * 1000}


def job_failed(name: str) -> bool:
    return _job_condition(name, "Failed")


def job_complete(name: str) -> bool:
    if job_failed(name):
        raise AssertionError(f"Job {name} failed: {kubectl_json('get', 'job', name)['status']}")
    return _job_condition(name, "Complete")


def _job_condition(name: str, kind: str) -> bool:
    conditions = kubectl_json("get", "job", name)["status"].get("conditions", [])
    return any(c["type"] == kind and c["status"] == "True" for c in conditions)


@dataclasses.dataclass
class FaultRow:
    fault: str
    ok: int
    failed: int
    lost: list[str]
    seconds: float
    note: str = ""


def table(rows: list[FaultRow]) -> str:
    lines = [f"{'fault':<44}{'ok':>7}{'failed':>8}{'lost':>6}{'took':>8}  note"]
    for row in rows:
        lines.append(
            f"{row.fault:<44}{row.ok:>7}{row.failed:>8}{len(row.lost):>6}{row.seconds:>7.1f}s  {row.note}"
            + (f" LOST: {', '.join(row.lost)}" if row.lost else "")
        )
    return "\n".join(lines)
