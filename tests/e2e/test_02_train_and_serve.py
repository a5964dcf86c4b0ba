"""2. Training runs in the cluster against the in-cluster MLflow (PostgreSQL backend), registers versions
with aliases, and the model server loads @champion and answers on the seed API, V1 and V2."""

import httpx
import pytest

from .kube import kubectl, kubectl_json, mlflow_auth, mlflow_credentials, service_url, wait_for
from .load import PENGUIN
from .platform import RELEASE
from .rollout import running_server_pod

ALGORITHMS = ("penguins-logistic-regression", "penguins-random-forest", "penguins-svm")


@pytest.fixture(scope="module")
def mlflow_url(platform) -> str:
    return service_url(f"{RELEASE}-mlflow")


def test_training_job_completed(platform):
    jobs = kubectl_json("get", "jobs", "-l", "app.kubernetes.io/name=training-job")["items"]
    penguins = [j for j in jobs if "penguins" in j["metadata"]["name"]]
    assert penguins, f"no penguins training Job among {[j['metadata']['name'] for j in jobs]}"
    assert penguins[0]["status"].get("succeeded") == 1, penguins[0]["status"]


def test_the_registry_is_rows_in_postgresql(platform):
    """MLflow's runs and registered models are rows in the chart's PostgreSQL, read with psql in its pod."""
    sql = "select (select count(*) from runs), (select string_agg(name, ',' order by name) from registered_models)"
    psql = f'/usr/local/lib/postgresql-bin/psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc "{sql}"'
    out = kubectl("exec", f"statefulset/{RELEASE}-mlflow-postgres", "--", "sh", "-c", psql, timeout=60).stdout
    runs, models = out.strip().split("|")
    assert int(runs) >= len(ALGORITHMS), out
    assert set(ALGORITHMS) <= set(models.split(",")), out


@pytest.mark.parametrize("name", ALGORITHMS)
def test_registry_has_versions_with_aliases(mlflow_url, name):
    response = httpx.get(f"{mlflow_url}/api/2.0/mlflow/registered-models/get", params={"name": name}, timeout=10,
                         auth=mlflow_auth())  # fmt: skip
    assert response.status_code == 200, response.text
    model = response.json()["registered_model"]
    aliases = {a["alias"]: a["version"] for a in model.get("aliases", [])}
    assert {"champion", "challenger"} <= set(aliases), aliases


def test_mlflow_refuses_anonymous_callers_and_the_servers_credentials_cannot_move_champion(mlflow_url):
    """Whoever reaches MLflow must not choose the code every model server loads: no anonymous calls, and the
    credentials every model-server pod holds can read the registry but not move @champion."""
    name = ALGORITHMS[0]
    anonymous = httpx.get(f"{mlflow_url}/api/2.0/mlflow/registered-models/get", params={"name": name}, timeout=10)
    assert anonymous.status_code == 401, anonymous.text
    server = httpx.BasicAuth(*mlflow_credentials("server", RELEASE))
    champion = httpx.get(f"{mlflow_url}/api/2.0/mlflow/registered-models/alias", params={"name": name,
                         "alias": "champion"}, auth=server, timeout=10)  # fmt: skip
    assert champion.status_code == 200, champion.text
    moved = httpx.post(f"{mlflow_url}/api/2.0/mlflow/registered-models/alias", auth=server, timeout=10,
                       json={"name": name, "alias": "champion", "version": "1"})  # fmt: skip
    assert moved.status_code == 403, moved.text  # MLflow's auth app answers "Permission denied" in plain text


def test_seed_api_predicts_with_the_champion(server_url):
    response = httpx.post(f"{server_url}/predict", json=PENGUIN, timeout=10)
    body = response.json()
    assert body["species"] in {"Adelie", "Chinstrap", "Gentoo"}, body
    assert response.headers["x-model-version"].isdigit(), response.headers
    assert abs(sum(body["probabilities"].values()) - 1.0) < 1e-6


def test_kserve_v1_predicts(server_url):
    response = httpx.post(
        f"{server_url}/v1/models/penguins-random-forest:predict", json={"instances": [PENGUIN, PENGUIN]}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 2


def test_mlflow_invocations_reads_parquet_in_the_server_image(server_url):
    """As `mlflow models serve` does: a body DataFrame.to_parquet() wrote (the image carries pyarrow)."""
    import io

    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame([PENGUIN, PENGUIN]).to_parquet(buffer)
    response = httpx.post(f"{server_url}/invocations", content=buffer.getvalue(), timeout=10,
                          headers={"Content-Type": "application/vnd.apache.parquet"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 2


def test_the_server_image_carries_skops_table_for_its_own_versions(server_url):
    """Built into the image (skops_table.py), so no server pod spends a second of its start computing it."""
    probe = "from mlkube_server.kinds import skops_table; print(skops_table.install())"
    out = kubectl("exec", running_server_pod(), "--", "python", "-c", probe, timeout=60)
    assert out.stdout.strip() == "None", out.stdout


# Run in a pod: do the modules a start imports come with their bytecode? (The images keep what pip compiled: with a
# read-only root, a start would otherwise compile them all anew, about twice the CPU of the imports themselves.)
BYTECODE_PROBE = (
    "import importlib, importlib.util as u, os, sys; "
    "files = [importlib.import_module(m).__file__ for m in sys.argv[1:]]; "
    "print([f for f in files if not os.path.exists(u.cache_from_source(f))])"
)


@pytest.mark.parametrize(
    ("workload", "modules"),
    [
        ("server", ["mlkube_server.app", "mlflow", "sklearn.ensemble", "fastapi"]),
        (f"deployment/{RELEASE}-mlflow", ["mlflow.server", "sqlalchemy", "mlkube_train"]),
    ],
)
def test_the_images_carry_the_bytecode_of_what_they_import(server_url, workload, modules):
    target = running_server_pod() if workload == "server" else workload
    out = kubectl("exec", target, "--", "python", "-c", BYTECODE_PROBE, *modules, timeout=90)
    assert out.stdout.strip() == "[]", out.stdout


def test_open_inference_v2_predicts(server_url):
    inputs = [
        {"name": key, "shape": [1], "datatype": "BYTES" if isinstance(value, str) else "FP64", "data": [value]}
        for key, value in PENGUIN.items()
    ]
    response = httpx.post(f"{server_url}/v2/models/penguins-random-forest/infer", json={"inputs": inputs}, timeout=10)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"], response.json()


def _route_conditions() -> dict[str, str]:
    route = kubectl_json("get", "httproute", f"{RELEASE}-model-server")
    parents = route.get("status", {}).get("parents", [])
    return {c["type"]: c["status"] for p in parents for c in p.get("conditions", [])}


def test_the_gateway_accepts_the_route_and_answers(server_url, gateway):
    conditions = wait_for(
        "the local Gateway to accept the model server's HTTPRoute",
        lambda: (c := _route_conditions()).get("Accepted") == "True" and c,
        timeout=60,
    )
    assert conditions.get("ResolvedRefs") == "True", conditions
    response = wait_for(
        "the Gateway to answer a prediction",
        lambda: (r := httpx.post(f"{gateway}/predict", json=PENGUIN, timeout=10)).status_code == 200 and r,
        timeout=60,
    )
    assert response.json()["species"] in {"Adelie", "Chinstrap", "Gentoo"}, response.text
