"""The apiserver enforces the `restricted` Pod Security level on a labelled namespace."""

from __future__ import annotations

import pytest

from tests.cluster.kube import Kubectl, KubectlError, container, pod_spec


@pytest.fixture
def restricted(kubectl: Kubectl, namespace: Kubectl) -> Kubectl:
    kubectl.run(
        "label", "namespace", namespace.namespace, "pod-security.kubernetes.io/enforce=restricted", "--overwrite"
    )
    return namespace


def test_privileged_pod_is_rejected(restricted: Kubectl, smoke_image: str) -> None:
    privileged = container("root", smoke_image, ["sleep"])
    privileged["securityContext"] = {"privileged": True}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged"}, "spec": {"containers": [privileged]}}
    with pytest.raises(KubectlError, match='violates PodSecurity "restricted'):
        restricted.apply(pod)
    assert restricted.run("get", "pod", "privileged", check=False).find("NotFound") >= 0


def test_restricted_pod_is_admitted(restricted: Kubectl, smoke_image: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "compliant"},
        "spec": pod_spec(container("app", smoke_image, ["sleep"])),
    }
    restricted.apply(pod)
    restricted.run("wait", "--for=condition=Ready", "pod/compliant", "--timeout=60s", timeout=70)
