"""What roles/registry_backup reads from the release, run on the charts' own renders: the stores and artifact
root it finds in MLflow's pod spec (tasks/stores.yml, run by ansible-playbook), and the labels and container
names it looks pods and Deployments up by (vars/main.yml, as Ansible templates them)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.ansible.playbook import ANSIBLE_DIR, PlaybookRun, ansible_env
from tests.charts.chart_helpers import Scenario, find, render

PLAYBOOK = """
- name: Read what the registry backup reads, from a rendered pod
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Read the stores
      ansible.builtin.include_role:
        name: registry_backup
        tasks_from: stores.yml
        public: true
      vars:
        registry_backup_pod: "{{ lookup('ansible.builtin.file', pod_file) | from_json }}"
    - name: Write what was found
      ansible.builtin.copy:
        dest: "{{ out_file }}"
        mode: "0600"
        content: >-
          {{ {'store_uri': registry_backup_store_uri, 'artifact_root': registry_backup_artifact_root,
              'backend': registry_backup_backend | default(''), 'db_files': registry_backup_db_files | default([]),
              'sqlite_stores': registry_backup_sqlite_stores | default({}),
              'server_labels': registry_backup_server_labels, 'database_labels': registry_backup_database_labels,
              'model_server_labels': registry_backup_model_server_labels,
              'containers': [registry_backup_server_container, registry_backup_users_container,
                             registry_backup_postgres_container],
              'secrets': registry_backup_secrets} | to_json }}
"""


def mlflow_pod(objects: tuple[dict, ...]) -> dict:
    (deployment,) = [
        d for d in find(objects, "Deployment") if d["metadata"]["labels"].get("app.kubernetes.io/name") == "mlflow"
    ]
    template = deployment["spec"]["template"]
    return {"metadata": {**template["metadata"], "name": "mlkube-mlflow-0"}, "spec": template["spec"]}


def read_stores(tmp_path: Path, pod: dict) -> tuple[PlaybookRun, dict]:
    (tmp_path / "pod.json").write_text(json.dumps(pod))
    (tmp_path / "read.yml").write_text(PLAYBOOK)
    out = tmp_path / "found.json"
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(tmp_path / "read.yml"),
         "-e", f"pod_file={tmp_path / 'pod.json'}", "-e", f"out_file={out}", "-e", "mlkube_namespace=mlkube"],
        cwd=ANSIBLE_DIR, env=ansible_env(ANSIBLE_ROLES_PATH=str(ANSIBLE_DIR / "roles")),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    run = PlaybookRun(proc.returncode, proc.stdout, proc.stderr, json.loads(proc.stdout) if proc.stdout else {})
    return run, json.loads(out.read_text()) if out.exists() else {}


def selects(selectors: list[str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in (s.split("=", 1) for s in selectors))


def test_the_mlflow_charts_sqlite_has_two_stores_on_its_volume(tmp_path: Path) -> None:
    run, found = read_stores(tmp_path, mlflow_pod(render(Scenario("mlflow"))))
    assert run.rc == 0, run.explain()
    assert found["backend"] == "sqlite"
    assert found["sqlite_stores"] == {"mlflow.db": "/mlflow/mlflow.db", "basic_auth.db": "/mlflow/basic_auth.db"}
    assert found["db_files"] == ["mlflow.db", "basic_auth.db"]
    assert found["artifact_root"] == "/mlflow/artifacts"


def test_without_auth_sqlite_has_one_store(tmp_path: Path) -> None:
    run, found = read_stores(tmp_path, mlflow_pod(render(Scenario("mlflow", sets=("auth.enabled=false",)))))
    assert run.rc == 0, run.explain()
    assert found["sqlite_stores"] == {"mlflow.db": "/mlflow/mlflow.db"}


def test_the_local_profile_and_what_the_role_looks_up_in_it(tmp_path: Path) -> None:
    """The platform's install (local profile): the chart's PostgreSQL, and the labels, containers and Secrets the
    role names are those of the rendered objects."""
    objects = render(Scenario("mlkube", ("profiles/local.yaml",)))
    pod = mlflow_pod(objects)
    run, found = read_stores(tmp_path, pod)
    assert run.rc == 0, run.explain()
    assert found["store_uri"].startswith("postgresql://mlflow:$(POSTGRES_PASSWORD)@mlkube-mlflow-postgres:5432/")
    assert found["artifact_root"] == "/mlflow/artifacts"
    server, users, postgres = found["containers"]
    assert selects(found["server_labels"], pod["metadata"]["labels"])
    assert server in {c["name"] for c in pod["spec"]["containers"]}
    assert users in {c["name"] for c in pod["spec"]["initContainers"]}
    (database,) = find(objects, "StatefulSet", "mlkube-mlflow-postgres")
    assert selects(found["database_labels"], database["spec"]["template"]["metadata"]["labels"])
    assert postgres in {c["name"] for c in database["spec"]["template"]["spec"]["containers"]}
    assert not selects(found["server_labels"], database["spec"]["template"]["metadata"]["labels"])
    # The Deployments a restore restarts: MLflow's, then every one of the model-server chart.
    deployments = {d["metadata"]["name"]: d["metadata"]["labels"] for d in find(objects, "Deployment")}
    assert [n for n, labels in deployments.items() if selects(found["server_labels"], labels)] == ["mlkube-mlflow"]
    servers = [n for n, labels in deployments.items() if selects(found["model_server_labels"], labels)]
    assert "mlkube-model-server" in servers and "mlkube-mlflow" not in servers
    secrets = {s["metadata"]["name"] for s in find(objects, "Secret")}
    assert set(found["secrets"]) <= secrets, (found["secrets"], secrets)


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("mlflow.artifacts.destination=s3://bucket/mlflow",), "object storage"),
        (("mlflow.postgres.mode=external", "mlflow.postgres.external.existingSecret=db"), "external database"),
    ],
)
def test_stores_outside_the_release_are_refused(tmp_path: Path, sets: tuple[str, ...], message: str) -> None:
    run, _ = read_stores(tmp_path, mlflow_pod(render(Scenario("mlkube", ("profiles/local.yaml",), sets))))
    assert run.rc != 0
    assert any(message in m for m in run.failure_messages()), run.explain()
