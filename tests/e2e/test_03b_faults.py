"""3b. Faults under constant load through the Gateway (issue 14.6, the part that runs here so far): a server pod force-
deleted, the server's process killed by the node's runtime, MLflow down for a minute while a new server pod and a
training Job start (the Job waits, then registers exactly one version per model), PostgreSQL killed, a training
Job's pod deleted mid-run (its run ends FAILED, nothing half-registered, the failure alert fires), the whole local
cluster stopped and started (the platform comes back by itself, serving the same versions). Each row of the
printed table (also .cache/e2e/faults.txt) counts the requests that failed during the fault and the registry's runs,
versions and aliases lost by it.

A SIGKILL cannot answer the requests its process holds at that instant, so the kill rows allow as many failures as
the load has requests in flight (its threads). The seconds until the endpoints drop the dead pod are covered by
the Gateway's retry Middleware (`gateway.retry`): a connection refused is resent to another pod. The restarted
process keeps refusing until its models have loaded (its serving port opens only then; metrics and health answer
on a port of their own), rather than answering 503 while the endpoint the kubelet has not yet withdrawn is still
listed (on kind, 18 of 269 requests failed that way before, 1 in 247 after: the one in flight; Traefik 3.6
resends no 503). That is not airtight: Traefik's round robin can send every attempt of a request to the refusing
pod, and Traefik 3.6 cannot resend a request already written to a connection the kill reset. The SIGKILL row
therefore allows 1 % of the fault's requests (measured: 4 of 1,364 lost with 3 attempts; 0 of 1,492 with the local
profile's 5).
`make test-faults` runs this file alone against the local cluster.
"""

from __future__ import annotations

import os
import time

import httpx
import pytest
import yaml

from mlkube_server import metric_names as server_metrics
from mlkube_train import metric_names as training_metrics

from . import faults, overload
from .kube import (
    NAMESPACE,
    ROOT,
    TARGET,
    kubectl,
    kubectl_json,
    make,
    pods,
    prometheus_query,
    ready,
    service_url,
    wait_for,
)
from .load import PENGUIN, LoadGenerator
from .platform import GATEWAY_NAMESPACE, PLATFORM, RELEASE
from .rollout import SERVER

THREADS = 2
MLFLOW_DOWN_S = 60.0
OUTAGE_TRAINING = ["penguins", "--model", "random_forest"]
REPLICAS = 2  # the local profile's model-server.replicaCount
OVERLOAD = 3
CAPACITY_S, CAPACITY_CALLERS, OVERLOAD_S = 10.0, 16, 20.0
# The crowd sends 100-row batches: with the compiled pipeline one pod answers thousands of single rows a second, a
# rate at which vegeta and the pod share two cores and requests went unanswered for want of CPU on the caller's
# side; at a few hundred batches a second the row measures the server's shedding, not the load generator.
CROWD_ROWS = 100
CROWD_BODY = {"penguins": [PENGUIN] * CROWD_ROWS}
# The latency SLO the monitoring chart alerts on (slo.latency.thresholdSeconds): what "stays bounded" means.
SLO_SECONDS = float(
    yaml.safe_load((ROOT / "charts/monitoring/values.yaml").read_text())["slo"]["latency"]["thresholdSeconds"]
)


@pytest.fixture(scope="module")
def rows():
    collected: list[faults.FaultRow] = []
    yield collected
    report = faults.table(collected)
    faults.REPORT.parent.mkdir(parents=True, exist_ok=True)
    faults.REPORT.write_text(report + "\n")
    print(f"\nfaults under load (failed requests, registry entries lost)\n{report}")


@pytest.fixture(scope="module")
def load(platform, gateway):
    wait_for("both server pods to be Ready", lambda: faults.all_servers_ready(REPLICAS), timeout=600, interval=3)
    generator = LoadGenerator(f"{gateway}/predict", threads=THREADS, max_seconds=2400)
    with generator:
        yield generator


@pytest.fixture(scope="module")
def mlflow_url(platform) -> str:
    return service_url(f"{RELEASE}-mlflow")


class Fault:
    """One row: the load's phase while it lasts, the registry before and after."""

    def __init__(self, name: str, load: LoadGenerator, rows: list[faults.FaultRow], mlflow_url: str):
        self.name, self.load, self.rows, self.mlflow_url = name, load, rows, mlflow_url
        self.note = ""

    def __enter__(self) -> Fault:
        self.before = faults.registry_state(self.mlflow_url)
        self.started = time.monotonic()
        self.load.phase(self.name)
        return self

    def __exit__(self, *exc) -> None:
        self.load.phase(f"after {self.name}")
        faults.wait_mlflow_answers(self.mlflow_url)
        lost = faults.registry_state(self.mlflow_url).lost_since(self.before)
        errors = ", ".join(self.load.errors.get(self.name, []))
        self.row = faults.FaultRow(self.name, self.load.ok[self.name], self.load.failed[self.name], lost,
                                   time.monotonic() - self.started, self.note or errors)  # fmt: skip
        self.rows.append(self.row)


def test_a_server_pod_force_deleted(load, rows, mlflow_url):
    with Fault("server pod force-deleted", load, rows, mlflow_url) as fault:
        pod = faults.serving_pods()[0]
        victim = pod["metadata"]["name"]
        faults.force_delete(pod)
        wait_for("a replacement server pod to be Ready",
                 lambda: faults.all_servers_ready(REPLICAS)
                 and victim not in {p["metadata"]["name"] for p in faults.serving_pods()},
                 timeout=600, interval=2)  # fmt: skip
    assert fault.row.lost == [], fault.row
    assert fault.row.failed <= THREADS, (fault.row, load.errors[fault.name])
    assert fault.row.ok > 0, fault.row


def test_the_server_process_killed_by_the_node(load, rows, mlflow_url):
    with Fault("server process SIGKILLed on the node", load, rows, mlflow_url) as fault:
        victim = faults.serving_pods()[0]
        restarts = faults.kill_on_the_node(victim)
        name = victim["metadata"]["name"]
        wait_for("the killed server container to restart and be Ready",
                 lambda: faults.restarted(name, restarts), timeout=600, interval=2)  # fmt: skip
    assert fault.row.lost == [], fault.row
    assert fault.row.failed <= max(THREADS, (fault.row.ok + fault.row.failed) // 100), (
        fault.row,
        load.errors[fault.name],
    )


def test_mlflow_down_serving_goes_on_and_a_new_server_waits(load, rows, mlflow_url):
    mlflow_replicas = int(kubectl_json("get", faults.MLFLOW)["spec"]["replicas"])
    since, job = time.time(), ""
    try:
        with Fault(f"MLflow down {MLFLOW_DOWN_S:.0f} s; a server, a Job starting", load, rows, mlflow_url) as fault:
            faults.scale(faults.MLFLOW, 0)
            down = time.monotonic()
            faults.scale(f"deployment/{SERVER}", REPLICAS + 1)
            # One algorithm: the "registers exactly one version", and a third of the training time.
            job = faults.start_copy_of_training_job("penguins", "outage", retries=True, args=OUTAGE_TRAINING)
            time.sleep(max(0.0, MLFLOW_DOWN_S - (time.monotonic() - down)))
            waiting = [p for p in faults.serving_pods() if not ready(p)]
            faults.scale(faults.MLFLOW, mlflow_replicas)
            faults.rollout_done(faults.MLFLOW)
            wait_for("the new server pod to load its models once MLflow is back",
                     lambda: faults.all_servers_ready(REPLICAS + 1), timeout=600, interval=3)  # fmt: skip
            wait_for(f"the training Job {job} started during the outage to complete",
                     lambda: faults.job_complete(job), timeout=900, interval=5)  # fmt: skip
            runs = faults.runs_since(mlflow_url, since)
            fault.note = (
                f"{len(waiting)} new server pod(s) not ready while MLflow was down; Job runs {sorted(runs.values())}"
            )
    finally:  # the suites after this one need the platform as it was, whatever failed here
        if job:
            kubectl("delete", "job", job, "--ignore-not-found", "--wait=false")
        faults.scale(faults.MLFLOW, mlflow_replicas)
        faults.scale(f"deployment/{SERVER}", REPLICAS)
        wait_for("the servers to be back at their replica count",
                 lambda: faults.all_servers_ready(REPLICAS), timeout=300, interval=3)  # fmt: skip
    assert len(waiting) == 1, "the server pod started while MLflow was down reported Ready without its models"
    assert fault.row.failed == 0, (fault.row, load.errors[fault.name])
    # The training Job waited for MLflow and then registered exactly one version of the model it trained...
    after = faults.registry_state(mlflow_url)
    finished = sorted(run for run, status in runs.items() if status == "FINISHED")
    versions = [v for v in after.versions if v[2] in runs]
    assert finished and sorted(v[2] for v in versions) == finished, (runs, versions)
    assert [name for name, _, _ in versions] == ["penguins-random-forest"], versions
    # ...and moved `@challenger` to them, as any retraining does: the one change the registry saw.
    registered = {(name, version) for name, version, _ in versions}
    moved = {f"alias {n}@{a} -> {v}" for n, a, v in fault.before.aliases - after.aliases
             if any((n, now) in registered for n2, a2, now in after.aliases if (n2, a2) == (n, a))}  # fmt: skip
    fault.row.lost = [entry for entry in fault.row.lost if entry not in moved]
    fault.row.note += f"; {len(moved)} aliases moved to the Job's new versions"
    assert fault.row.lost == [], fault.row


def test_postgres_killed_and_restarted(load, rows, mlflow_url):
    with Fault("PostgreSQL pod force-deleted", load, rows, mlflow_url) as fault:
        database = pods(f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=database")
        assert database, "no PostgreSQL pod: the local profile runs MLflow on its own PostgreSQL"
        faults.force_delete(database[0])
        faults.rollout_done(faults.POSTGRES)
    assert fault.row.lost == [], fault.row
    assert fault.row.failed == 0, (fault.row, load.errors[fault.name])


def test_a_training_job_killed_mid_run(load, rows, mlflow_url):
    """The kubelet's SIGTERM reaches the trainer (PID 1): its run ends FAILED, no version of it is registered, the
    failure reaches the Pushgateway and the training alert, and the Job (a copy without retries) fails."""
    prometheus = service_url(f"{RELEASE}-monitoring-prometheus")
    since = time.time()
    job = faults.start_copy_of_training_job("penguins", "killed")
    try:
        with Fault("training Job's pod deleted mid-run", load, rows, mlflow_url) as fault:
            run_id = wait_for("the copied penguins Job to start a tracked run",
                              lambda: faults.running_run_since(mlflow_url, since), timeout=600, interval=1)  # fmt: skip
            kubectl("delete", "pod", "-l", f"job-name={job}", "--wait=true", timeout=120)
            wait_for(f"Job {job} to be Failed", lambda: faults.job_failed(job), timeout=120)
            runs = faults.runs_since(mlflow_url, since)
            fault.note = f"runs of the Job: {sorted(runs.values())}; Job failed"
        assert fault.row.lost == [], fault.row
        assert fault.row.failed == 0, (fault.row, load.errors[fault.name])
        # The algorithms trained before the signal finished and registered; the one in flight (the first, or a
        # later one if the first was quick) ended FAILED; nothing is left RUNNING, nothing half-registered.
        assert run_id in runs and [s for s in runs.values() if s != "FINISHED"] == ["FAILED"], runs
        versions = faults.registry_state(mlflow_url).versions
        assert not [v for v in versions if v[2] in runs and runs[v[2]] != "FINISHED"], (runs, versions)

        pushed = f'{training_metrics.LAST_FAILURE_TIMESTAMP}{{job="{training_metrics.PUSH_JOB_PREFIX}/penguins"}}'
        wait_for("Prometheus to scrape the pushed failure",
                 lambda: any(float(s["value"][1]) >= since for s in prometheus_query(prometheus, pushed)),
                 timeout=120, interval=5)  # fmt: skip
        alert = 'ALERTS{alertname="MlkubeTrainingJobFailed"}'
        wait_for("MlkubeTrainingJobFailed to be pending or firing",
                 lambda: prometheus_query(prometheus, alert), timeout=180, interval=5)  # fmt: skip
    finally:
        kubectl("delete", "job", job, "--ignore-not-found", "--wait=false")


def test_overload_at_three_times_capacity(load, rows, mlflow_url):
    """A crowd at 3x what one server pod answered to waiting callers (100-row batches), sent to that pod: every
    request is answered, 200 or 503 with Retry-After at once (load shedding, counted), none times out or errs, no
    pod restarts. The latencies (the callers' p99, and the share of accepted requests within the SLO on the servers'
    own histogram) are printed in the table, not asserted: on this machine the load generator shares the CPU with
    the servers.

    The crowd goes to the pod, not through the Gateway: Traefik bounds neither the connections nor the requests it
    holds, and a crowd of ~1,500 req/s through it got it OOMKilled (at 256Mi and at 512Mi) once the servers slowed
    down; what this row checks is the servers' own answer to overload."""
    victim = faults.serving_pods()[0]
    url = f"{faults.pod_url(victim)}/predict/batch"
    restarts = faults.restart_counts()
    prometheus = service_url(f"{RELEASE}-monitoring-prometheus")

    def shed_total() -> float:
        samples = prometheus_query(prometheus, f"sum({server_metrics.REQUESTS_SHED_TOTAL})")
        return sum(float(s["value"][1]) for s in samples)

    shed_before = shed_total()
    with Fault(f"one server pod at {OVERLOAD}x its capacity", load, rows, mlflow_url) as fault:
        measured = overload.attack(url, CROWD_BODY, CAPACITY_S, workers=CAPACITY_CALLERS)
        capacity = measured.rate(200)
        histogram = faults.accepted_latency_buckets()
        crowd = overload.attack(url, CROWD_BODY, OVERLOAD_S, rate=OVERLOAD * capacity)
        accepted, within_slo = faults.share_within(histogram, faults.accepted_latency_buckets(), SLO_SECONDS)
        fault.note = (
            f"{CROWD_ROWS}-row batches: capacity {capacity:.0f}/s ({CAPACITY_CALLERS} waiting callers); "
            f"at {OVERLOAD * capacity:.0f}/s: "
            f"{crowd.summary()}; servers: {within_slo:.1%} of {accepted:.0f} accepted within {SLO_SECONDS:g} s"
        )
    print(f"\ncapacity: {measured.summary()}\noverload: {crowd.summary()}")
    assert fault.row.lost == [], fault.row
    assert set(crowd.latencies) <= {200, 503} and not crowd.errors, crowd.summary()
    assert crowd.count(200) > 0 and crowd.count(503) > 0 and crowd.without_retry_after == 0, crowd.summary()
    restarted = {c: n for c, n in faults.restart_counts().items() if n > restarts.get(c, n)}
    assert not restarted, f"containers restarted under overload: {restarted}"
    assert faults.all_servers_ready(REPLICAS)
    wait_for("Prometheus to count the shed requests", lambda: shed_total() > shed_before, timeout=60, interval=5)


# About 200 s, and the suites after it start on a cold platform: `make test` (CI) stays within its 90 minutes
# without it; `make test-faults` runs it.
@pytest.mark.skipif(
    os.environ.get("MLKUBE_E2E_CLUSTER_RESTART") != "1",
    reason="the whole-cluster restart runs in `make test-faults` (MLKUBE_E2E_CLUSTER_RESTART=1)",
)
# kind's nodes are containers that keep nothing of the pod network set by the role (tasks/pod_network.yml) across
# a restart: `docker restart` of the nodes is not a stop and start kind supports, and is not proven here.
@pytest.mark.skipif(TARGET == "kind", reason="the local cluster's stop and start; kind's nodes are not restarted")
def test_the_whole_cluster_stopped_and_started(load, rows, mlflow_url, gateway):
    """`make local-cluster-down`, then `make local-cluster-up`, as a laptop's user stops and starts the cluster. While
    it is down every request fails (no replica survives that); once it is up the platform comes back by itself: no
    helm, no kubectl, the registry whole and the same versions served."""
    server = service_url(SERVER)
    served = faults.served_versions(server)
    namespaces = [NAMESPACE, GATEWAY_NAMESPACE, PLATFORM["ARGO_ROLLOUTS_NAMESPACE"]]
    with Fault("whole local cluster stopped and started", load, rows, mlflow_url) as fault:
        started = time.monotonic()
        make("local-cluster-down", stream=True, timeout=900)
        stopped = time.monotonic()
        make("local-cluster-up", stream=True, timeout=1800)
        up = time.monotonic()
        wait_for("every Deployment and StatefulSet of the platform, the Gateway and Argo Rollouts to be Ready",
                 lambda: not faults.workloads_not_ready(namespaces), timeout=900, interval=5)  # fmt: skip
        wait_for(f"the servers to serve {served} again", lambda: faults.served_versions(server) == served,
                 timeout=600, interval=3)  # fmt: skip
        wait_for("the Gateway to answer a prediction",
                 lambda: httpx.post(f"{gateway}/predict", json=PENGUIN, timeout=5).status_code == 200)  # fmt: skip
        fault.note = (
            f"down in {stopped - started:.0f} s, cluster up in {up - stopped:.0f} s, "
            f"serving the same versions {time.monotonic() - up:.0f} s later"
        )
    assert fault.row.lost == [], fault.row
    assert faults.served_versions(server) == served
