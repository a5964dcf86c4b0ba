"""The playbook parses for every inventory and passes ansible-lint's production profile."""

import json
import subprocess

import pytest
import yaml

from tests.ansible.playbook import ANSIBLE_DIR, INVENTORIES, ROOT, ansible_env, run_playbook


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_syntax_check(inventory: str) -> None:
    run = run_playbook(inventory, "--syntax-check")
    assert run.rc == 0, run.explain()


def test_every_role_validates_its_arguments() -> None:
    roles = [p for p in (ANSIBLE_DIR / "roles").iterdir() if (p / "tasks" / "main.yml").exists()]
    assert {"cluster_tools", "kind_cluster", "cloud_cluster", "images", "platform"} <= {r.name for r in roles}
    for role in roles:
        assert (role / "meta" / "argument_specs.yml").is_file(), f"{role.name} has no meta/argument_specs.yml"
        assert (role / "defaults" / "main.yml").is_file(), f"{role.name} has no defaults/main.yml"


@pytest.mark.slow
def test_ansible_lint_production_profile() -> None:
    proc = subprocess.run(
        ["ansible-lint", "--nocolor"],
        cwd=ANSIBLE_DIR,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]
    assert "Profile 'production' was required, and it passed" in output, output[-2000:]


SELECT_TARGET = ANSIBLE_DIR / "scripts" / "select-target.sh"


@pytest.mark.parametrize("target", ["kind", "local", "cloud"])
def test_an_explicit_target_is_kept(target: str) -> None:
    proc = subprocess.run(
        [str(SELECT_TARGET)],
        env={"MLKUBE_TARGET": target, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == target


def test_auto_picks_the_local_cluster_without_docker_and_kind(tmp_path) -> None:
    # A PATH where neither docker nor kind exists: only the shell's own tools.
    (tmp_path / "bin").mkdir()
    proc = subprocess.run(
        ["/bin/bash", str(SELECT_TARGET)],
        env={"MLKUBE_TARGET": "auto", "PATH": str(tmp_path / "bin")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "local"


def test_an_unknown_target_says_which_ones_exist() -> None:
    proc = subprocess.run(
        [str(SELECT_TARGET)], env={"MLKUBE_TARGET": "minikube", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "use auto, kind, local or cloud" in proc.stderr


@pytest.mark.parametrize("target", ["kind", "local", "cloud"])
def test_make_env_puts_the_pinned_tools_first_and_the_cloud_cli_last(target: str) -> None:
    """`eval "$(make env)"`: the pinned kubectl/helm shadow the user's; on cloud the kubeconfig's `aws eks get-token`
    finds the Ansible venv's AWS CLI, placed after the user's PATH so its python never shadows theirs."""
    proc = subprocess.run(
        ["make", "-s", "env", f"MLKUBE_TARGET={target}"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    path = next(line for line in proc.stdout.splitlines() if line.startswith("export PATH="))
    entries = path.removeprefix("export PATH=").strip('"').split(":")
    assert entries[0] == str(ROOT / ".cache" / "bin") and "$PATH" in entries, path
    venv_bin = str(ROOT / ".cache" / "ansible-venv" / "bin")
    if target == "cloud":
        assert entries.index(venv_bin) > entries.index("$PATH"), path
    else:
        assert venv_bin not in entries, path
    assert ("KUBECONFIG" in proc.stdout) == (target == "local"), proc.stdout


def test_the_registry_pattern_is_the_one_of_the_charts_schemas() -> None:
    defaults = yaml.safe_load((ANSIBLE_DIR / "roles" / "images" / "defaults" / "main.yml").read_text())
    pattern = defaults["images_registry_pattern"]
    schemas = sorted((ROOT / "charts").glob("*/values.schema.json"))
    assert {s.parent.name for s in schemas} == {"model-server", "training-job", "mlflow", "monitoring", "mlkube"}
    for schema in schemas:
        in_schema = json.loads(schema.read_text())["properties"]["global"]["properties"]["imageRegistry"]["pattern"]
        # The schemas also accept the empty default.
        assert in_schema == "^(|" + pattern[1:-1] + ")$", schema
