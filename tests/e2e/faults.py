"""What the fault suite does to the platform and what it reads back: the registry's state, the faults, the table."""

from __future__ import annotations

import copy
import dataclasses
import json

from .kube import CACHE, kubectl, kubectl_json, pods, ready, run, wait_for
from .platform import RELEASE
from .registry_versions import client
from .rollout import CONTAINERD_SOCK

SERVER_PODS = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=model-server"
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
    experiments = [e.experiment_id for e in registry.search_experiments()]
    runs = frozenset(r.info.run_id for r in registry.search_runs(experiments, max_results=5000))
    versions, aliases = set(), set()
    for model in registry.search_registered_models(max_results=1000):
        for version in registry.search_model_versions(f"name='{model.name}'", max_results=1000):
            versions.add((model.name, str(version.version), str(version.run_id)))
        aliases |= {(model.name, alias, str(v)) for alias, v in (model.aliases or {}).items()}
    return RegistryState(runs, frozenset(versions), frozenset(aliases))


def serving_pods() -> list[dict]:
    return [p for p in pods(SERVER_PODS) if not p["metadata"].get("deletionTimestamp")]


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
    run("ctr", "--address", str(CONTAINERD_SOCK), "-n", "k8s.io", "tasks", "kill", "--signal", "SIGKILL", container_id)
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


def start_copy_of_training_job(trainer: str, suffix: str, retries: bool = False) -> str:
    """A new Job with the spec of the release's `trainer` Job; without `retries`, a pod that fails fails the Job.
    Returns its name."""
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
    keep = {
        k: v
        for k, v in job["metadata"].get("labels", {}).items()
        if not k.startswith(("batch.", "controller-uid", "job-name"))
    }
    manifest = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": keep}, "spec": spec}
    kubectl("apply", "-f", "-", input=json.dumps(manifest))
    return name


def running_run_since(mlflow_url: str, since: float) -> str | None:
    """The id of a tracked run that started after `since` (Unix seconds) and is still running, if any."""
    registry = client(mlflow_url)
    experiments = [e.experiment_id for e in registry.search_experiments()]
    runs = registry.search_runs(experiments, "attributes.status = 'RUNNING'", max_results=50)
    return next((r.info.run_id for r in runs if r.info.start_time >= since * 1000), None)


def runs_since(mlflow_url: str, since: float) -> dict[str, str]:
    registry = client(mlflow_url)
    experiments = [e.experiment_id for e in registry.search_experiments()]
    runs = registry.search_runs(experiments, max_results=5000)
    return {r.info.run_id: r.info.status for r in runs if r.info.start_time >= since * 1000}


def job_failed(name: str) -> bool:
    return _job_condition(name, "Failed")


def job_complete(name: str) -> bool:
    if job_failed(name):
        raise AssertionError(f"Job {name} failed: {kubectl_json('get', 'job', name)['status']}")
    return _job_condition(name, "Complete")


def _job_condition(name: str, kind: str) -> bool:
    conditions = kubectl_json("get", "job", name)["status"].get("conditions", [])
    return any(c["type"] == kind and c["status"] == "True" for c in conditions)


def prometheus_value(prometheus_url: str, query: str) -> list[dict]:
    import httpx

    return httpx.get(f"{prometheus_url}/api/v1/query", params={"query": query}, timeout=10).json()["data"]["result"]


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
