"""NetworkPolicies are enforced (kube-router's policy controller on the host): a policy that admits one label
refuses a pod without it, admits the pod with it, and deleting the policy opens the server again; an egress policy
that admits DNS on port 53 only (as the charts write it) still resolves names, and refuses the rest.

Clients are long-lived pods asked through `kubectl exec`: a pod's address joins the policies on kube-router's next
sync after it starts, so what must connect is retried until it does.
"""

from __future__ import annotations

import subprocess

from tests.cluster.kube import Kubectl, KubectlError, container, pod_spec, wait_until
from tests.cluster.test_workloads import PORT, deployment, service


def client_pod(name: str, image: str, labels: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": pod_spec(container("client", image, ["sleep"]), terminationGracePeriodSeconds=1),
    }


def admit_only(label: str) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "web-clients-only"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {label: "true"}}}], "ports": [{"port": PORT}]}],
        },
    }


def reaches(ns: Kubectl, pod: str, url: str) -> bool:
    try:
        ns.run("exec", pod, "--", "/cluster-smoke", "get", url, timeout=20)
    except (KubectlError, subprocess.TimeoutExpired):
        return False
    return True


def test_a_policy_admits_its_clients_only_until_it_is_deleted(namespace: Kubectl, smoke_image: str) -> None:
    namespace.apply(
        deployment("web", smoke_image, "1"),
        service("web"),
        client_pod("allowed", smoke_image, {"web-client": "true"}),
        client_pod("other", smoke_image, {}),
    )
    namespace.run("rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    namespace.run("wait", "--for=condition=Ready", "pod/allowed", "pod/other", "--timeout=120s", timeout=130)
    url = f"http://web:{PORT}/"
    for pod in ("allowed", "other"):  # no policy yet: both reach it once the network knows them
        wait_until(f"{pod} to reach the server", lambda pod=pod: reaches(namespace, pod, url) or None, timeout=60)

    namespace.apply(admit_only("web-client"))
    wait_until("the policy to refuse the other pod", lambda: (not reaches(namespace, "other", url)) or None, timeout=60)
    assert reaches(namespace, "allowed", url), "the policy refused the pod it admits"

    namespace.run("delete", "networkpolicy", "web-clients-only")
    wait_until("the other pod to reach the server again", lambda: reaches(namespace, "other", url) or None, timeout=60)


def dns_only_egress(label: str) -> dict:
    """Egress to the cluster's DNS pods on port 53, as the platform's charts write it, and nothing else."""
    dns = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "dns-only"},
        "spec": {
            "podSelector": {"matchLabels": {label: "true"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [dns], "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}],
        },
    }


def test_an_egress_policy_admits_dns_on_port_53_and_refuses_the_rest(namespace: Kubectl, smoke_image: str) -> None:
    namespace.apply(
        deployment("web", smoke_image, "1"),
        service("web"),
        client_pod("confined", smoke_image, {"confined": "true"}),
        dns_only_egress("confined"),
    )
    namespace.run("rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    namespace.run("wait", "--for=condition=Ready", "pod/confined", "--timeout=120s", timeout=130)

    def resolves() -> str | None:
        try:
            return namespace.run("exec", "confined", "--", "/cluster-smoke", "lookup", "web", timeout=20) or None
        except (KubectlError, subprocess.TimeoutExpired):
            return None

    wait_until("the confined pod to resolve a name through the cluster's DNS", resolves, timeout=60)
    assert not reaches(namespace, "confined", f"http://web:{PORT}/"), "egress beyond DNS was not refused"
