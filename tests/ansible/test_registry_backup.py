"""model-registry.yml (roles/registry_backup) up to where it needs a cluster: the folder checks, the backup's manifest
and checksums, an unreachable cluster; the backup and restore themselves run in tests/e2e/test_10_registry_backup.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.ansible.playbook import INVENTORIES, PlaybookRun, run_playbook

PLAYBOOK = "model-registry.yml"
UNREACHABLE_KUBECONFIG = (
    "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
    "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
    "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
)


def registry(tmp_path: Path, action: str, folder: Path | str, *extra: str) -> PlaybookRun:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE_KUBECONFIG)
    args = ["-e", f"registry_backup_action={action}", "-e", f"registry_backup_dir={folder}"]
    args += ["-e", f"registry_backup_kubeconfig={kubeconfig}", *extra]
    return run_playbook("local", *args, playbook=PLAYBOOK, timeout=300, MLKUBE_CACHE=str(tmp_path / "cache"))


def backup_folder(folder: Path, files: dict[str, bytes]) -> Path:
    """A folder laid out as the role writes one: the files and a manifest with their SHA-256."""
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    manifest = {
        "format": 1,
        "release": "mlkube",
        "namespace": "mlkube",
        "backend": "postgres",
        "mlflow_version": "3.17.2",
        "secrets": ["mlkube-mlflow-auth"],
        "files": {name: hashlib.sha256(content).hexdigest() for name, content in files.items()},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


FILES = {"mlflow.pgdump": b"PGDMP dump", "artifacts.tar": b"tar", "secrets.json": b'{"mlkube-mlflow-auth": {}}'}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_registry_playbook_syntax_check(inventory: str) -> None:
    run = run_playbook(inventory, "--syntax-check", playbook=PLAYBOOK)
    assert run.rc == 0, run.explain()


def test_backup_of_an_unreachable_cluster_says_so_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "backup"
    run = registry(tmp_path, "backup", folder)
    assert run.rc != 0
    # ...asked at the address of the kubeconfig given (the role's module_defaults), with the client's reason.
    assert any("does not answer" in m and "127.0.0.1" in m for m in run.failure_messages()), run.explain()
    assert not folder.exists()


def test_backup_never_writes_into_a_folder_with_files(tmp_path: Path) -> None:
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    run = registry(tmp_path, "backup", folder)
    assert any("is not empty" in m for m in run.failure_messages()), run.explain()
    assert not any("Ask the cluster" in name for name in run.results()), "the cluster was asked before the folder check"


def test_a_relative_folder_is_refused(tmp_path: Path) -> None:
    run = registry(tmp_path, "backup", "backups/one")
    assert any("must be an absolute path" in m for m in run.failure_messages()), run.explain()


def test_an_unknown_action_is_refused_by_the_argument_spec(tmp_path: Path) -> None:
    run = registry(tmp_path, "copy", tmp_path / "backup")
    assert run.rc != 0
    assert any("registry_backup_action" in m and "backup, restore" in m for m in run.failure_messages()), run.explain()


def test_restore_refuses_a_folder_without_manifest(tmp_path: Path) -> None:
    folder = tmp_path / "backup"
    folder.mkdir()
    run = registry(tmp_path, "restore", folder)
    assert any("is not a registry backup" in m for m in run.failure_messages()), run.explain()


def test_restore_names_a_file_changed_since_the_backup(tmp_path: Path) -> None:
    folder = backup_folder(tmp_path / "backup", FILES)
    (folder / "artifacts.tar").write_bytes(b"tar, truncated")
    (folder / "secrets.json").unlink()
    run = registry(tmp_path, "restore", folder)
    assert run.rc != 0
    damaged = f"{folder}/artifacts.tar, {folder}/secrets.json missing or different"
    assert any(damaged in m for m in run.failure_messages()), run.explain()


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-mode"])
def test_restore_of_an_intact_backup_goes_on_to_the_cluster(tmp_path: Path, check_mode: bool) -> None:
    folder = backup_folder(tmp_path / "backup", FILES)
    run = registry(tmp_path, "restore", folder, *(["--check"] if check_mode else []))
    assert run.rc != 0
    messages = run.failure_messages()
    assert not any("damaged" in m or "not a registry backup" in m for m in messages), run.explain()
    assert any("does not answer" in m for m in messages), run.explain()


def test_restore_refuses_another_format(tmp_path: Path) -> None:
    folder = backup_folder(tmp_path / "backup", FILES)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "format": 2}))
    run = registry(tmp_path, "restore", folder)
    assert any("has format 2, this restore reads format 1" in m for m in run.failure_messages()), run.explain()
