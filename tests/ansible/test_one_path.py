"""One path (issue 16.1): make runs the playbook, and only the playbook runs the roles' scripts."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.ansible.playbook import ROOT, run_playbook

MAKEFILES = [ROOT / "Makefile", *(p for p in ROOT.rglob("*.mk") if not {".venv", ".cache"} & set(p.parts))]
DOCUMENTED_TARGET = re.compile(r"^([a-z][a-z0-9-]*):[^=\n]*##", re.M)
# A role's own files: its scripts, its Python, its templates.
ROLE_FILE = re.compile(r"roles/[a-z_]+/files/")
# Suites that read the scripts (shellcheck, the tests) rather than provision with them.
NOT_PROVISIONING = re.compile(r"^(test|bench|lint|help)")


def documented_targets() -> list[str]:
    targets = {name for path in MAKEFILES for name in DOCUMENTED_TARGET.findall(path.read_text())}
    return sorted(name for name in targets if not NOT_PROVISIONING.match(name))


def dry_run(*args: str) -> str:
    """What make would run, its sub-makes included (make -n still runs them, with -n)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    proc = subprocess.run(
        ["make", "-n", "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_the_provisioning_targets_are_found() -> None:
    targets = documented_targets()
    assert {"up", "down", "cluster-up", "images", "images-clean", "local-cluster-up", "local-cluster-purge"} <= set(
        targets
    ), targets


def test_no_make_target_runs_a_roles_script() -> None:
    offenders = {}
    for target in documented_targets():
        lines = [line for line in dry_run(target).splitlines() if ROLE_FILE.search(line)]
        if lines:
            offenders[target] = lines[:3]
    assert not offenders, offenders


@pytest.mark.parametrize(
    ("target", "action"),
    [
        ("local-cluster-deps", "deps"),
        ("local-cluster-build", "build"),
        ("local-cluster-up", "up"),
        ("local-cluster-down", "down"),
        ("local-cluster-purge", "purge"),
        ("local-cluster-status", "status"),
    ],
)
def test_the_local_cluster_targets_are_the_playbook(target: str, action: str) -> None:
    out = dry_run(target)
    assert re.search(
        rf"ansible-playbook -i inventories/local/hosts\.yml site\.yml --tags cluster -e mlkube_action={action}$",
        out,
        re.M,
    ), out[-2000:]


def test_images_clean_and_the_local_down_stop_the_builds_dockerd() -> None:
    assert "--tags images -e images_action=stop" in dry_run("images-clean")
    site = (ROOT / "ansible" / "site.yml").read_text()
    assert "images_action: stop" in site


@pytest.mark.parametrize("action", ["deps", "build"])
def test_building_the_local_cluster_is_refused_for_another_target(action: str) -> None:
    run = run_playbook("kind", "--check", "-e", f"mlkube_action={action}", timeout=300)
    assert run.rc != 0
    assert "local only" in run.stdout + run.stderr, run.explain()
