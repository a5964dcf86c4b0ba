"""The trigger's webhook end, with MLflow's own signed deliveries (a real ``mlflow server`` on SQLite)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import httpx
import pytest

from mlkube_server.trigger.signature import sign
from tests.trigger.conftest import SECRET, TRIGGER, register_versions, unreachable_kubeconfig

pytestmark = pytest.mark.slow
HTTP = httpx.Client(timeout=10)  # one client: a new one per request costs more than the request


def hook_of(registry, name: str):
    return next(hook for hook in registry.list_webhooks() if hook.name == name)


def post(url: str, body: bytes, secret: str | None = SECRET, timestamp: int | None = None) -> httpx.Response:
    delivery, sent = str(uuid.uuid4()), str(timestamp if timestamp is not None else int(time.time()))
    headers = {"Content-Type": "application/json", "X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": sent}
    if secret is not None:
        headers["X-MLflow-Signature"] = sign(secret, delivery, sent, body)
    return HTTP.post(f"{url}/webhook", content=body, headers=headers, timeout=10)


def alias_body(name: str, alias: str, version: str) -> bytes:
    payload = {"entity": "model_version_alias", "action": "created", "timestamp": "2026-01-01T00:00:00+00:00",
               "data": {"name": name, "alias": alias, "version": version}}  # fmt: skip
    return json.dumps(payload).encode()


def test_registers_its_webhook_once_and_mlflow_delivers_signed_events(registry, trigger_factory):
    register_versions(registry, "wh-model", 2)
    with trigger_factory("wh-model-server") as trigger:
        hook = hook_of(registry, trigger.hook_name)
        assert hook.url == f"{trigger.url}/webhook"
        assert [str(e) for e in hook.events] == ["model_version_alias.created"]
        registry.set_registered_model_alias("wh-model", "challenger", "2")
        assert trigger.wait_for("@challenger of wh-model -> version 2")
        registry.set_registered_model_alias("wh-model", "champion", "1")
        assert trigger.wait_for("ignored: @champion of wh-model moved to 1")
        # MLflow's own test delivery, signed by MLflow with the stored secret.
        result = registry.test_webhook(hook.webhook_id)
        assert result.success and result.response_status == 200, result
    with trigger_factory("wh-model-server") as again:  # a restart finds its webhook instead of adding one
        assert again.wait_for(f"MLflow webhook {again.hook_name} updated")
        assert [h.name for h in registry.list_webhooks()].count(again.hook_name) == 1


def test_a_wrong_secret_in_mlflow_is_refused_and_nothing_happens(registry, trigger_factory):
    register_versions(registry, "wrong-secret", 1)
    with trigger_factory("wrong-secret-server") as trigger:
        hook = hook_of(registry, trigger.hook_name)
        registry.update_webhook(hook.webhook_id, secret="not-the-trigger-secret-" + "x" * 16)
        time.sleep(1.5)  # MLFLOW_WEBHOOK_CACHE_TTL=1: MLflow re-reads its webhooks
        result = registry.test_webhook(hook.webhook_id)
        assert result.response_status == 401
        registry.set_registered_model_alias("wrong-secret", "challenger", "1")
        trigger.wait_for("refused delivery", count=2)
        time.sleep(2)
        assert not trigger.messages("@challenger of wrong-secret")
        assert not trigger.messages("could not start the rollout of wrong-secret")


def test_bad_deliveries_get_one_clear_status(trigger_factory):
    with trigger_factory("bad-input-server") as trigger:
        body = alias_body("bad-input", "challenger", "3")
        missing = post(trigger.url, body, secret=None)
        assert missing.status_code == 401 and "missing" in missing.json()["error"]
        wrong = post(trigger.url, body, secret="someone-else-" + "y" * 32)
        assert wrong.status_code == 401 and "does not match" in wrong.json()["error"]
        stale = post(trigger.url, body, timestamp=int(time.time()) - 3600)
        assert stale.status_code == 401 and "off" in stale.json()["error"]
        delivery, sent = str(uuid.uuid4()), str(int(time.time()))
        headers = {"X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": sent,
                   "X-MLflow-Signature": sign(SECRET, delivery, sent, body)}  # fmt: skip
        tampered = httpx.post(f"{trigger.url}/webhook", content=alias_body("bad-input", "challenger", "4"),
                              headers=headers, timeout=10)  # fmt: skip
        assert tampered.status_code == 401
        assert post(trigger.url, b"{not json").status_code == 400
        assert post(trigger.url, b"[1, 2]").status_code == 400
        assert post(trigger.url, alias_body("bad-input", "challenger", "seven")).status_code == 400
        other = post(trigger.url, json.dumps({"entity": "model_version", "action": "created", "data": {}}).encode())
        assert other.status_code == 200 and "ignored" in other.json()["result"]
        time.sleep(1.5)
        assert not trigger.messages("@challenger of bad-input"), "a refused delivery must start nothing"
        assert len(trigger.messages("ignored: event model_version.created")) == 1


def test_a_storm_of_alias_events_becomes_one_start_per_model_at_the_last_version(registry, trigger_factory):
    """20 deliveries in 2 s, out of order and duplicated, signed as MLflow signs them: the trigger starts one
    rollout per model, of the version @challenger names in the registry at that moment."""
    versions = {name: register_versions(registry, name, 5) for name in ("storm-a", "storm-b")}
    for name, numbers in versions.items():
        registry.set_registered_model_alias(name, "challenger", numbers[-1])
    order = ["3", "1", "5", "2", "4", "5", "1", "2", "4", "3"]
    with trigger_factory("storm-server") as trigger:
        started = time.monotonic()
        for version in order:
            for name in versions:
                assert post(trigger.url, alias_body(name, "challenger", version)).status_code == 200
            time.sleep(0.18)
        assert time.monotonic() - started < 2.5
        for name, numbers in versions.items():
            trigger.wait_for(f"could not start the rollout of {name} version {numbers[-1]}")  # no cluster here
        time.sleep(2.5)
        assert trigger.process.alive()
        for name in versions:
            assert len(trigger.messages(f"@challenger of {name} -> version")) == 10
            assert len(trigger.messages(f"could not start the rollout of {name}")) == 1


def test_register_webhook_registers_and_exits_for_the_init_container(registry, webhook_mlflow, tmp_path):
    """The chart's init container: registration with the admin's credentials, then the receiver starts without."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLKUBE_"))} | {
        "MLFLOW_TRACKING_URI": webhook_mlflow.url,
        "MLKUBE_TRIGGER_ROLLOUT": "init-model-server",
        "MLKUBE_TRIGGER_NAMESPACE": "mlkube",
        "MLKUBE_TRIGGER_KUBECONFIG": str(unreachable_kubeconfig(tmp_path / "kubeconfig")),
        "MLKUBE_TRIGGER_WEBHOOK_URL": "http://127.0.0.1:9/webhook",
        "MLKUBE_TRIGGER_WEBHOOK_SECRET": SECRET,
    }
    done = subprocess.run([str(TRIGGER), "register-webhook"], env=env, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "MLflow webhook mlkube-init-model-server created" in done.stderr + done.stdout
    assert hook_of(registry, "mlkube-init-model-server").url == "http://127.0.0.1:9/webhook"
    wrong = subprocess.run([str(TRIGGER), "serve"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert wrong.returncode == 2 and "only: register-webhook" in wrong.stderr
