"""The GKE kubeconfig the cloud_cluster role writes is the one `gcloud container clusters get-credentials` writes:
the cluster's endpoint and CA, and a user that runs gke-gcloud-auth-plugin. Rendered by Ansible's template
module from the role's template with a cluster as google.cloud.gcp_container_cluster returns it, then read
by kubectl."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import yaml

from tests.ansible.playbook import ANSIBLE_DIR, ansible_env, find_kubectl

TEMPLATE = ANSIBLE_DIR / "roles" / "cloud_cluster" / "templates" / "gke-kubeconfig.yaml.j2"
CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIC...\n-----END CERTIFICATE-----\n").decode()
CONTEXT = "gke_ml-project_europe-west4_mlkube"


def render(tmp_path: Path) -> Path:
    facts = {
        "cloud_cluster_name": "mlkube",
        "cloud_cluster_gke_project": "ml-project",
        "cloud_cluster_gke_location": "europe-west4",
        "cloud_cluster_gke": {"endpoint": "34.90.1.2", "masterAuth": {"clusterCaCertificate": CA}, "changed": True},
    }
    (tmp_path / "facts.json").write_text(json.dumps(facts))
    dest = tmp_path / "kubeconfig"
    proc = subprocess.run(
        [
            "ansible",
            "localhost",
            "-c",
            "local",
            "-i",
            "localhost,",
            "-m",
            "ansible.builtin.template",
            "-a",
            f"src={TEMPLATE} dest={dest} mode=0600",
            "-e",
            f"@{tmp_path / 'facts.json'}",
        ],
        cwd=ANSIBLE_DIR,
        env=ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.minimal"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def test_the_kubeconfig_is_gclouds(tmp_path: Path) -> None:
    kubeconfig = render(tmp_path)
    view = subprocess.run(
        [find_kubectl(), "config", "view", "--raw", "--minify", "-o", "json", "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(view.stdout)
    assert config["current-context"] == CONTEXT
    (cluster,) = config["clusters"]
    assert cluster["name"] == CONTEXT
    assert cluster["cluster"]["server"] == "https://34.90.1.2"
    assert cluster["cluster"]["certificate-authority-data"] == CA
    (user,) = config["users"]
    assert "auth-provider" not in user["user"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "gke-gcloud-auth-plugin"
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert exec_["provideClusterInfo"] is True
    assert "gke-gcloud-auth-plugin" in exec_["installHint"] and "\n" not in exec_["installHint"]
    assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"


def test_the_kubeconfig_has_nothing_kubectl_drops(tmp_path: Path) -> None:
    """Every key of the file is one kubectl knows: nothing a typo would make kubectl silently ignore."""
    kubeconfig = render(tmp_path)
    written = yaml.safe_load(kubeconfig.read_text())
    strict = subprocess.run(
        [find_kubectl(), "config", "view", "--raw", "-o", "json", "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        check=True,
    )
    viewed = json.loads(strict.stdout)
    assert set(written) <= set(viewed)
    assert written["users"][0]["user"]["exec"].keys() <= viewed["users"][0]["user"]["exec"].keys()
    assert written["clusters"][0]["cluster"].keys() <= viewed["clusters"][0]["cluster"].keys()
