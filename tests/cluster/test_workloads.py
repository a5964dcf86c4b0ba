"""Real pods: a Deployment behind a Service (ClusterIP from the host, DNS name from a pod),
a Job running to completion, and a rollout undone."""

from __future__ import annotations

import json

import httpx

from tests.cluster.kube import Kubectl, container, pod_spec, wait_until

PORT = 8080


def deployment(name: str, image: str, version: str) -> dict:
    labels = {"app": name}
    probe = {"httpGet": {"path": "/healthz", "port": PORT}, "periodSeconds": 1}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": pod_spec(
                    container(
                        "server",
                        image,
                        ["serve"],
                        env=[{"name": "SMOKE_VERSION", "value": version}],
                        ports=[{"containerPort": PORT, "name": "http"}],
                        readinessProbe=probe,
                    )
                ),
            },
        },
    }


def service(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": PORT, "targetPort": "http"}]},
    }


def one_shot_pod(name: str, image: str, args: list[str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": pod_spec(container("client", image, args), restartPolicy="Never"),
    }


def pod_phase(ns: Kubectl, name: str) -> str | None:
    phase = ns.get("pod", name)["status"].get("phase")
    return phase if phase in ("Succeeded", "Failed") else None


def test_deployment_reached_by_cluster_ip_and_dns(namespace: Kubectl, smoke_image: str) -> None:
    namespace.apply(deployment("web", smoke_image, "1"), service("web"))
    namespace.run("rollout", "status", "deployment/web", "--timeout=120s", timeout=130)

    cluster_ip = namespace.get("service", "web")["spec"]["clusterIP"]
    with httpx.Client(trust_env=False, timeout=5) as client:

        def ask() -> dict | None:
            # kube-proxy programs the Service a moment after the endpoints become ready.
            try:
                return client.get(f"http://{cluster_ip}:{PORT}/").raise_for_status().json()
            except httpx.HTTPError:
                return None

        answer = wait_until("the Service's ClusterIP to answer from the host", ask, timeout=30)
    assert answer["version"] == "1"
    assert answer["hostname"].startswith("web-")

    url = f"http://web.{namespace.namespace}.svc.cluster.local:{PORT}/"
    namespace.apply(one_shot_pod("dns-client", smoke_image, ["get", url]))
    phase = wait_until("the in-cluster client pod to finish", lambda: pod_phase(namespace, "dns-client"))
    logs = namespace.logs("dns-client")
    assert phase == "Succeeded", logs
    assert json.loads(logs)["version"] == "1"


def test_job_runs_to_completion(namespace: Kubectl, smoke_image: str) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {
            "backoffLimit": 0,
            "template": {"spec": pod_spec(container("work", smoke_image, ["exit", "0"]), restartPolicy="Never")},
        },
    }
    namespace.apply(job)
    namespace.run("wait", "--for=condition=Complete", "job/once", "--timeout=120s", timeout=130)
    pods = namespace.get("pods", None, "-l", "job-name=once")["items"]
    assert pods and all(p["spec"]["nodeName"] for p in pods)
    assert pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0


def test_rollout_undo_returns_to_previous_replicaset(namespace: Kubectl, smoke_image: str) -> None:
    namespace.apply(deployment("undo", smoke_image, "1"))
    namespace.run("rollout", "status", "deployment/undo", "--timeout=120s", timeout=130)
    first = current_replicaset(namespace, "undo")

    namespace.apply(deployment("undo", smoke_image, "2"))
    namespace.run("rollout", "status", "deployment/undo", "--timeout=120s", timeout=130)
    second = current_replicaset(namespace, "undo")
    assert second != first

    namespace.run("rollout", "undo", "deployment/undo")
    namespace.run("rollout", "status", "deployment/undo", "--timeout=120s", timeout=130)
    assert current_replicaset(namespace, "undo") == first
    env = namespace.get("deployment", "undo")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "SMOKE_VERSION", "value": "1"} in env


def current_replicaset(ns: Kubectl, deployment_name: str) -> str:
    revision = ns.get("deployment", deployment_name)["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
    for replicaset in ns.get("replicasets", None, "-l", f"app={deployment_name}")["items"]:
        annotations = replicaset["metadata"]["annotations"]
        if annotations.get("deployment.kubernetes.io/revision") == revision:
            return replicaset["metadata"]["name"]
    raise AssertionError(f"no ReplicaSet of {deployment_name} at revision {revision}")
