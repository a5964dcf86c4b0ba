"""The cloud target's EKS path in apply mode against moto's server, an AWS API emulator, on loopback: the real
playbook, modules and AWS CLI, with AWS_ENDPOINT_URL pointing at the emulator and dummy credentials. The tests
run in order, as one cluster's life: create, re-run, resize, an immutable change, delete.

What this does not prove: that AWS itself accepts these requests (moto validates less than EKS), that nodes
join, or the connection to the API server (the emulator serves none, so cloud_cluster_connect is false)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.ansible.playbook import ANSIBLE_DIR, ROOT, PlaybookRun, ansible_venv, run_playbook
from tests.support.processes import ManagedProcess, free_port, wait_for_http

REGION = "eu-west-1"
CLUSTER = "mlkube"
PLATFORM = dict(
    line.split("=", 1)
    for line in (ROOT / "platform.env").read_text().splitlines()
    if "=" in line and not line.startswith("#")
)
DEFAULTS = yaml.safe_load((ANSIBLE_DIR / "roles" / "cloud_cluster" / "defaults" / "main.yml").read_text())


@dataclass
class Emulated:
    endpoint: str
    env: dict[str, str]
    kubeconfig: Path

    def aws(self, *args: str) -> dict:
        proc = subprocess.run(
            [str(ansible_venv() / "bin" / "aws"), *args, "--output", "json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, f"aws {' '.join(args)}: {proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    def playbook(self, *args: str) -> PlaybookRun:
        return run_playbook(
            "cloud", "--tags", "cluster", "-e", "cloud_cluster_connect=false", *args, timeout=1800, **self.env
        )

    def nodegroup(self, name: str) -> dict:
        return self.aws("eks", "describe-nodegroup", "--cluster-name", CLUSTER, "--nodegroup-name", name)["nodegroup"]

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of each EKS request the emulator recorded since the last reset."""
        recorded = subprocess.run(
            ["curl", "-sf", f"{self.endpoint}/moto-api/recorder/download-recording"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        entries = [json.loads(line) for line in recorded.splitlines() if line.strip()]
        paths = [(e["method"], urlsplit(e["url"]).path) for e in entries]
        return [(method, path) for method, path in paths if path.startswith("/clusters")]

    def reset_calls(self) -> None:
        subprocess.run(["curl", "-sf", "-X", "POST", f"{self.endpoint}/moto-api/recorder/reset-recording"], check=True)


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulated]:
    tmp = tmp_path_factory.mktemp("eks")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = ManagedProcess(
        "moto_server",
        [str(ansible_venv() / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        tmp / "moto.log",
        env={
            "PATH": "/usr/bin:/bin",
            "MOTO_ENABLE_RECORDING": "True",
            "MOTO_RECORDER_FILEPATH": str(tmp / "moto-recording"),
        },
        cwd=tmp,
    )
    try:
        wait_for_http(f"{endpoint}/moto-api/", timeout=60, process=server)
        env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
            "MLKUBE_CACHE": str(tmp / "cache"),
            "MLKUBE_KUBECONFIG": str(tmp / "cloud" / "kubeconfig"),
            "MLKUBE_CLOUD_PROVIDER": "eks",
        }
        emulated = Emulated(endpoint, env, tmp / "cloud" / "kubeconfig")
        trust = json.dumps({"Version": "2012-10-17", "Statement": []})
        role_arn = lambda name: emulated.aws(  # noqa: E731
            "iam", "create-role", "--role-name", name, "--assume-role-policy-document", trust
        )["Role"]["Arn"]
        vpc = emulated.aws("ec2", "create-vpc", "--cidr-block", "10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            emulated.aws(
                "ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", f"10.0.{i}.0/24", "--availability-zone", zone
            )["Subnet"]["SubnetId"]
            for i, zone in enumerate((f"{REGION}a", f"{REGION}b"))
        ]
        env.update(
            MLKUBE_EKS_ROLE_ARN=role_arn("mlkube-cluster"),
            MLKUBE_EKS_NODE_ROLE_ARN=role_arn("mlkube-nodes"),
            MLKUBE_EKS_SUBNETS=",".join(subnets),
            MLKUBE_EKS_SECURITY_GROUPS="",
        )
        yield emulated
    finally:
        server.stop()


def test_check_mode_plans_the_cluster_and_creates_nothing(emulated: Emulated) -> None:
    emulated.reset_calls()
    run = emulated.playbook("--check")
    assert run.rc == 0, run.explain()
    assert run.result("Create the EKS control plane")["changed"]
    assert [r["changed"] for r in run.result("Create or update the node groups")["results"]] == [True, True]
    assert [call for call in emulated.calls() if call[0] != "GET"] == []
    assert not emulated.kubeconfig.exists()


def test_apply_creates_the_cluster_and_both_node_groups(emulated: Emulated) -> None:
    emulated.reset_calls()
    run = emulated.playbook()
    assert run.rc == 0, run.explain()
    cluster = emulated.aws("eks", "describe-cluster", "--name", CLUSTER)["cluster"]
    assert cluster["status"] == "ACTIVE"
    assert cluster["roleArn"] == emulated.env["MLKUBE_EKS_ROLE_ARN"]
    assert cluster["version"] == DEFAULTS["cloud_cluster_kubernetes_version"]
    assert sorted(cluster["resourcesVpcConfig"]["subnetIds"]) == sorted(emulated.env["MLKUBE_EKS_SUBNETS"].split(","))

    cpu = emulated.nodegroup(DEFAULTS["cloud_cluster_cpu_pool"]["name"])
    assert cpu["amiType"] == "AL2023_x86_64_STANDARD"
    assert cpu["labels"] == {} and cpu["taints"] == []
    gpu = emulated.nodegroup(DEFAULTS["cloud_cluster_gpu_pool"]["name"])
    assert gpu["amiType"] == "AL2023_x86_64_NVIDIA"
    assert gpu["instanceTypes"] == [DEFAULTS["cloud_cluster_gpu_pool"]["eks_instance_type"]]
    assert gpu["nodeRole"] == emulated.env["MLKUBE_EKS_NODE_ROLE_ARN"]
    assert gpu["labels"] == {PLATFORM["LABEL_GPU_NODE"]: "true"}
    assert gpu["taints"] == [{"key": PLATFORM["TAINT_GPU_NODE"], "value": "present", "effect": "NO_SCHEDULE"}]
    pool = DEFAULTS["cloud_cluster_gpu_pool"]
    assert gpu["scalingConfig"] == {
        "minSize": pool["min_size"],
        "maxSize": pool["max_size"],
        "desiredSize": pool["desired_size"],
    }
    # One cluster and two node groups created, through the EKS API.
    creates = [call for call in emulated.calls() if call[0] == "POST"]
    assert creates == [
        ("POST", "/clusters"),
        ("POST", f"/clusters/{CLUSTER}/node-groups"),
        ("POST", f"/clusters/{CLUSTER}/node-groups"),
    ]


def test_the_kubeconfig_is_the_aws_clis(emulated: Emulated) -> None:
    kubeconfig = yaml.safe_load(emulated.kubeconfig.read_text())
    arn = emulated.aws("eks", "describe-cluster", "--name", CLUSTER)["cluster"]["arn"]
    assert kubeconfig["current-context"] == arn
    (cluster,) = kubeconfig["clusters"]
    assert cluster["name"] == arn and cluster["cluster"]["server"].startswith("https://")
    assert cluster["cluster"]["certificate-authority-data"]
    (user,) = kubeconfig["users"]
    exec_ = user["user"]["exec"]
    assert exec_["command"] == "aws"
    assert exec_["args"][:2] == ["--region", REGION] and "get-token" in exec_["args"]
    assert exec_["args"][exec_["args"].index("--cluster-name") + 1] == CLUSTER
    assert oct(emulated.kubeconfig.stat().st_mode & 0o777) == "0o600"


def test_a_second_run_changes_nothing(emulated: Emulated) -> None:
    emulated.reset_calls()
    run = emulated.playbook()
    assert run.rc == 0, run.explain()
    assert run.stats.get("changed", 0) == 0, [n for n, r in run.results().items() if r.get("changed")]
    assert [call for call in emulated.calls() if call[0] != "GET"] == []


def test_a_resize_is_applied_in_place(emulated: Emulated) -> None:
    before = emulated.nodegroup("cpu")
    pool = DEFAULTS["cloud_cluster_cpu_pool"] | {"desired_size": 3, "max_size": 4}
    run = emulated.playbook("-e", json.dumps({"cloud_cluster_cpu_pool": pool}))
    assert run.rc == 0, run.explain()
    after = emulated.nodegroup("cpu")
    assert after["scalingConfig"] == {"minSize": pool["min_size"], "maxSize": 4, "desiredSize": 3}
    assert after["nodegroupArn"] == before["nodegroupArn"]  # the same node group, not a new one
    assert run.result("Create or update the node groups")["changed"]


def test_an_immutable_change_is_refused_with_what_differs(emulated: Emulated) -> None:
    pool = DEFAULTS["cloud_cluster_gpu_pool"] | {"eks_instance_type": "g6.xlarge"}
    run = emulated.playbook("-e", json.dumps({"cloud_cluster_gpu_pool": pool}))
    assert run.rc != 0
    message = " ".join(run.failure_messages())
    assert "Node group gpu cannot change in place: instance_types is ['g5.xlarge'] (wanted ['g6.xlarge'])" in message
    assert emulated.nodegroup("gpu")["instanceTypes"] == ["g5.xlarge"]


@pytest.mark.parametrize("setting", ["MLKUBE_EKS_ROLE_ARN", "MLKUBE_EKS_SUBNETS"])
def test_a_malformed_setting_fails_before_any_aws_call(emulated: Emulated, setting: str) -> None:
    emulated.reset_calls()
    run = run_playbook(
        "cloud",
        "--tags",
        "cluster",
        "-e",
        "cloud_cluster_connect=false",
        timeout=600,
        **(emulated.env | {setting: "mlkube"}),
    )
    assert run.rc != 0
    assert any(m.startswith(f"{setting} is 'mlkube': expected") for m in run.failure_messages()), run.explain()
    assert emulated.calls() == []


def test_down_in_check_mode_deletes_nothing(emulated: Emulated) -> None:
    emulated.reset_calls()
    run = emulated.playbook("--check", "-e", "mlkube_action=down")
    assert run.rc == 0, run.explain()
    assert run.result("Delete the EKS control plane")["changed"]
    assert [call for call in emulated.calls() if call[0] != "GET"] == []
    assert emulated.aws("eks", "list-clusters")["clusters"] == [CLUSTER]


def test_down_deletes_the_node_groups_then_the_cluster(emulated: Emulated) -> None:
    emulated.reset_calls()
    run = emulated.playbook("-e", "mlkube_action=down")
    assert run.rc == 0, run.explain()
    assert emulated.aws("eks", "list-clusters")["clusters"] == []
    deletes = [path for method, path in emulated.calls() if method == "DELETE"]
    assert deletes == [
        f"/clusters/{CLUSTER}/node-groups/gpu",
        f"/clusters/{CLUSTER}/node-groups/cpu",
        f"/clusters/{CLUSTER}",
    ]
    again = emulated.playbook("-e", "mlkube_action=down")
    assert again.rc == 0 and again.stats.get("changed", 0) == 0, again.explain()
