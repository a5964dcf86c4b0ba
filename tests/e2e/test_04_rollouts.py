"""4–6. Rolling, canary and blue-green rollouts of the model server, under continuous load.

A load generator keeps predicting through the main Service for the whole module; every request is
counted under the transition in progress, and the failures per transition are printed at the end
(and written to .cache/e2e/rollout-failures.txt). The scenarios share one trained registry:
version `old` is the champion the platform started with, `new` a second version trained by a
standalone release of the training-job chart.
"""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from . import rollout
from .kube import CACHE, ROOT, helm, kubectl, kubectl_json, mlflow_auth, pods, ready, service_url, wait_for
from .load import LoadGenerator
from .platform import RELEASE
from .rollout import SERVER, upgrade

MODEL = "penguins-random-forest"
REPORT = CACHE / "e2e" / "rollout-failures.txt"


@pytest.fixture(scope="module")
def mlflow_url(platform) -> str:
    return service_url(f"{RELEASE}-mlflow")


@pytest.fixture(scope="module")
def versions(platform, mlflow_url) -> dict[str, str]:
    """Trains a second version of the random forest in the cluster; returns {'old': champion, 'new': it}."""
    champion = _alias(mlflow_url, "champion")
    helm(
        "upgrade",
        "--install",
        "retrain",
        str(ROOT / "charts" / "training-job"),
        "--set",
        f"global.mlflow.url=http://{RELEASE}-mlflow:5000",
        "--set",
        f"global.mlflow.credentialsSecret={RELEASE}-mlflow-auth",  # a release of its own: the platform's users
        "--set",
        f"global.mlflow.signingSecret={RELEASE}-mlflow-signing",  # ...and signing key
        "--set",
        "jobs.digits.enabled=false",
        "--set",
        "jobs.penguins.args={penguins,--model,random_forest}",
        "--set",
        "priorityClassName=mlkube-training",
        "--wait",
        "--wait-for-jobs",
        "--timeout",
        "10m",
        timeout=660,
    )
    latest = max(int(v["version"]) for v in _versions(mlflow_url))
    assert latest > int(champion), f"retraining registered no new version (champion {champion}, latest {latest})"
    yield {"old": champion, "new": str(latest)}
    helm("uninstall", "retrain", check=False)


def _alias(mlflow_url: str, alias: str) -> str:
    response = httpx.get(
        f"{mlflow_url}/api/2.0/mlflow/registered-models/alias",
        params={"name": MODEL, "alias": alias},
        timeout=10,
        auth=mlflow_auth(),
    )
    assert response.status_code == 200, response.text
    return response.json()["model_version"]["version"]


def _versions(mlflow_url: str) -> list[dict]:
    response = httpx.get(
        f"{mlflow_url}/api/2.0/mlflow/model-versions/search",
        params={"filter": f"name='{MODEL}'"},
        timeout=10,
        auth=mlflow_auth(),
    )
    return response.json()["model_versions"]


def _uri(version: str) -> str:
    return f"models:/{MODEL}/{version}"


@pytest.fixture(scope="module")
def load(server_url, versions):
    generator = LoadGenerator(f"{server_url}/predict", threads=2, max_seconds=1500)
    with generator:
        yield generator
    report = generator.report()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(report + "\n")
    print(f"\nfailed requests per transition (target: zero)\n{report}")


# ---------------------------------------------------------------- 4. rolling


def test_rolling_update_to_a_new_image_tag(load, server_url):
    load.phase("rolling: new image tag")
    tag = rollout.tag_image(f"{rollout.IMAGE}:{os.environ.get('IMAGE_TAG', '0.1.0')}", "0.1.0-e2e.2")
    upgrade(**{"image.tag": tag.rsplit(":", 1)[1]})
    assert rollout.rollout_status(SERVER).returncode == 0
    serving = pods(f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/name=model-server")
    images = {
        p["spec"]["containers"][0]["image"] for p in serving if ready(p) and not p["metadata"].get("deletionTimestamp")
    }
    assert images == {"mlkube/model-server:0.1.0-e2e.2"}, images
    history = kubectl("rollout", "history", f"deployment/{SERVER}").stdout
    assert "0.1.0-e2e.2" in history, history


def test_broken_image_stalls_without_losing_capacity_and_undo_recovers(load):
    load.phase("rolling: broken image")
    # The pause image never answers the readiness probe: a release that never becomes Ready.
    rollout.tag_image("docker.io/mlkube/pause:0.1.0", "0.1.0-e2e.broken")
    upgrade(wait=False, **{"image.tag": "0.1.0-e2e.broken"})
    stalled = rollout.rollout_status(SERVER, timeout="45s")
    assert stalled.returncode != 0, "a rollout of an image that never becomes Ready reported success"
    deployment = kubectl_json("get", "deployment", SERVER)
    desired = deployment["spec"]["replicas"]
    assert deployment["status"].get("availableReplicas") == desired, deployment["status"]

    load.phase("rolling: kubectl rollout undo")
    kubectl("rollout", "undo", f"deployment/{SERVER}")
    assert rollout.rollout_status(SERVER).returncode == 0
    image = kubectl_json("get", "deployment", SERVER)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(":0.1.0-e2e.2"), image
    assert load.failed["rolling: broken image"] == 0, load.errors["rolling: broken image"]


# ---------------------------------------------------------------- 5. canary


def _canary(versions: dict[str, str], gateway: bool, weight: int = 20) -> dict[str, str]:
    """Canary of the new version: by HTTPRoute weight on the local Gateway, or by replica ratio behind the
    main Service when the gateway is off."""
    return {
        "image.tag": "0.1.0-e2e.2",
        "strategy": "canary",
        "gateway.enabled": str(gateway).lower(),
        "canary.weight": str(weight),
        "replicaCount": "3",
        "canary.replicas": "1",
        "canary.model.version": versions["new"],
        f"canary.models.{MODEL}": _uri(versions["new"]),
        f"server.models.{MODEL}": _uri(versions["old"]),
        "model.version": versions["old"],
    }


def test_canary_by_replica_ratio_splits_traffic(load, server_url, versions):
    load.phase("canary: start")
    upgrade(**_canary(versions, gateway=False))
    load.phase("canary: serving")
    wait_for("both variants ready", lambda: len([p for p in pods("mlkube.io/variant=canary") if ready(p)]) == 1)
    split = rollout.version_split(server_url, 400)
    share = split[versions["new"]] / sum(split.values())
    # 1 canary pod of 4 behind one Service: 25 % expected; kube-proxy picks at random per connection.
    print(
        f"\ncanary share measured {share:.1%} over {sum(split.values())} requests "
        f"(expected 25 % ± 10 points): {dict(split)}"
    )
    assert set(split) == {versions["old"], versions["new"]}, split
    assert 0.15 <= share <= 0.35, split


def test_canary_abort_leaves_only_stable(load, server_url, versions):
    load.phase("canary: abort")
    upgrade(
        **{
            "image.tag": "0.1.0-e2e.2",
            "strategy": "rolling",
            "replicaCount": "2",
            f"server.models.{MODEL}": _uri(versions["old"]),
            "model.version": versions["old"],
        }
    )
    rollout.wait_only_version(server_url, versions["old"], "only the stable version to answer after abort")
    wait_for("the canary pods to go after abort", lambda: not pods("mlkube.io/variant=canary"), timeout=120)


def test_canary_by_gateway_weight_splits_traffic(load, server_url, gateway, versions):
    load.phase("canary: gateway weights")
    upgrade(**_canary(versions, gateway=True, weight=20))
    wait_for(
        "both variants to answer through the Gateway",
        lambda: set(rollout.version_split(gateway, 20)) == {versions["old"], versions["new"]},
        timeout=120,
    )
    split = rollout.version_split(gateway, 200)
    share = split[versions["new"]] / sum(split.values())
    # Traefik's weighted round robin is deterministic: 20 % within a few points.
    print(
        f"\ngateway canary share measured {share:.1%} over {sum(split.values())} requests "
        f"(weight 20 %, ± 5 points): {dict(split)}"
    )
    assert 0.15 <= share <= 0.25, split
    # In-cluster clients that call the main Service directly stay on the stable version.
    assert rollout.only_version(server_url, versions["old"]), "the main Service reaches the canary in gateway mode"


def test_canary_promote_leaves_only_the_new_version(load, server_url, gateway, versions, mlflow_url):
    load.phase("canary: second canary")
    upgrade(**_canary(versions, gateway=True))
    load.phase("canary: promote")
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_url}
    promoted = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "mlkube-train"),
            "promote",
            "--name",
            MODEL,
            "--version",
            versions["new"],
            "--alias",
            "champion",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert _alias(mlflow_url, "champion") == versions["new"]
    upgrade(
        **{
            "image.tag": "0.1.0-e2e.2",
            "strategy": "rolling",
            "replicaCount": "2",
            f"server.models.{MODEL}": f"models:/{MODEL}@champion",
            "model.version": versions["new"],
        }
    )
    rollout.wait_only_version(server_url, versions["new"], "only the promoted version to answer")
    rollout.wait_only_version(gateway, versions["new"], "only the promoted version to answer through the Gateway")
    wait_for("the canary pods to go after promotion", lambda: not pods("mlkube.io/variant=canary"), timeout=120)


# ---------------------------------------------------------------- 6. blue-green


def _blue_green(versions: dict[str, str], active: str) -> dict[str, str]:
    return {
        "image.tag": "0.1.0-e2e.2",
        "strategy": "blueGreen",
        "replicaCount": "2",
        "blueGreen.active": active,
        "blueGreen.blue.model.version": versions["new"],
        f"blueGreen.blue.models.{MODEL}": _uri(versions["new"]),
        "blueGreen.green.model.version": versions["old"],
        f"blueGreen.green.models.{MODEL}": _uri(versions["old"]),
    }


def test_blue_green_preview_switch_and_switch_back(load, server_url, versions):
    # The rolling Deployment becomes blue in place (a rolling update behind the main Service) and green
    # starts beside it: a strategy migration, counted apart from the blue-green transitions themselves.
    load.phase("migrate rolling -> blue-green")
    upgrade(**_blue_green(versions, "blue"))
    preview = service_url(f"{SERVER}-preview")
    rollout.wait_only_version(server_url, versions["new"], "the active Service to answer with blue")
    assert rollout.only_version(preview, versions["old"]), "the preview Service does not answer with green"

    load.phase("blue-green: switch to green")
    upgrade(**_blue_green(versions, "green"))
    to_green = rollout.seconds_until_only_version(
        server_url, versions["old"], "the active Service to answer with green"
    )

    load.phase("blue-green: switch back to blue")
    upgrade(**_blue_green(versions, "blue"))
    to_blue = rollout.seconds_until_only_version(
        server_url, versions["new"], "the active Service to answer with blue again"
    )
    print(
        f"\nblue-green: green answered alone {to_green:.1f}s after the switch, blue {to_blue:.1f}s after switching back"
    )
    assert to_blue < 15, f"switching back took {to_blue:.1f}s"
    for phase in ("migrate rolling -> blue-green", "blue-green: switch to green", "blue-green: switch back to blue"):
        assert load.failed[phase] == 0, (phase, load.errors[phase])
