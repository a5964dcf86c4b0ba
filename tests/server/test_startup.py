"""Start-up: configured models load at the same time, skops imports without PyTorch, the collector comes back."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

from .conftest import DIGITS, LR, RF, session_models, start_server
from .delaying_proxy import delaying_proxy


def test_configured_models_load_at_the_same_time(tmp_path, trained, mlflow_server):
    """Behind an MLflow that answers every request a second late, the three models' registry lookups (each names
    its model) are all in flight at once: no model waits for another to finish loading before it starts."""
    with delaying_proxy(mlflow_server.url, delay=1.0) as slow:
        with start_server(tmp_path, session_models(trained), slow.url) as srv:
            assert srv.client.get("/v2/health/ready").status_code == 200
    first_lookup: dict[str, tuple[float, float]] = {}
    for request in sorted(slow.passed, key=lambda r: r.arrived):
        name = parse_qs(urlsplit(request.path).query).get("name", [""])[0]
        if name and name not in first_lookup:
            first_lookup[name] = (request.arrived, request.answered)
    assert set(first_lookup) == {RF, LR, DIGITS}, [r.path for r in slow.passed]
    last_arrived = max(arrived for arrived, _ in first_lookup.values())
    first_answered = min(answered for _, answered in first_lookup.values())
    assert last_arrived < first_answered, first_lookup


def test_model_builds_take_turns(tmp_path, monkeypatch):
    """Builds import the models' frameworks; two at once can deadlock on Python's module locks (loader._BUILD)."""
    from mlflow.models import Model

    from mlkube_server import loader
    from mlkube_server.kinds.base import Resolved
    from mlkube_server.settings import ServerSettings

    Model().save(tmp_path / "MLmodel")
    inside, most = 0, 0
    count = threading.Lock()

    def build(artifact, settings):
        nonlocal inside, most
        with count:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with count:
            inside -= 1
        return artifact.resolved.name

    monkeypatch.setattr(loader.kinds, "build", build)
    settings = ServerSettings(models={})

    def one(name: str) -> str:
        return loader._build(Resolved(name, f"models:/{name}/1", "", "1", None, None, {}), tmp_path, settings, 0.0)

    with ThreadPoolExecutor(4) as pool:
        built = list(pool.map(one, ["a", "b", "c", "d"]))
    assert built == ["a", "b", "c", "d"]
    assert most == 1


# A scikit-learn package that only skops' own table-building walk (all_estimators) imports.
WALKED_ONLY = "sklearn.semi_supervised"


def _skops_in_a_fresh_interpreter(import_statement: str) -> dict:
    """skops.io's trusted-type tables after ``import_statement``, and what got imported with them."""
    script = f"""
import json, sys
{import_statement}
import skops.io
from skops.io import _trusted_types
tables = {{k: sorted(map(str, v)) for k, v in vars(_trusted_types).items() if k.endswith("_TYPE_NAMES")}}
print(json.dumps({{"tables": tables, "torch": "torch" in sys.modules, "walked": {WALKED_ONLY!r} in sys.modules,
                   "adapter": "sklearn.externals.array_api_compat.torch" in sys.modules}}))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_skops_trusts_the_same_types_when_imported_without_pytorch():
    plain = _skops_in_a_fresh_interpreter("import skops.io")
    ours = _skops_in_a_fresh_interpreter(
        "from mlkube_server.kinds.sklearn import import_skops_computing_its_table as i; i()"
    )
    assert ours["tables"] == plain["tables"]
    assert "sklearn.ensemble._forest.RandomForestClassifier" in ours["tables"]["SKLEARN_ESTIMATOR_TYPE_NAMES"]
    assert not ours["torch"] and not ours["adapter"]  # the placeholder is gone: the adapter imports later if asked
    if importlib.util.find_spec("torch") is not None:
        assert plain["torch"]  # what the server no longer pays for: plain skops imports PyTorch here


def test_the_precomputed_table_is_the_one_skops_computes_and_spares_its_walk(tmp_path):
    table = tmp_path / "table.json"
    uses_table = (
        f"from pathlib import Path\nfrom mlkube_server.kinds import skops_table\ntable = Path({str(table)!r})\n"
    )
    subprocess.run([sys.executable, "-c", uses_table + "skops_table.write(table)"], check=True, timeout=300)
    plain = _skops_in_a_fresh_interpreter("import skops.io")
    precomputed = _skops_in_a_fresh_interpreter(uses_table + "assert skops_table.install(table) is None")
    assert precomputed["tables"] == plain["tables"]
    assert plain["walked"] and not precomputed["walked"] and not precomputed["torch"]


def test_a_table_for_other_versions_or_none_leaves_skops_to_compute_its_own(tmp_path):
    from mlkube_server.kinds import skops_table

    stale = tmp_path / "stale.json"
    versions = {**skops_table.installed_versions(), "scikit-learn": "0.0.1"}
    stale.write_text(json.dumps({"versions": versions, "tables": {"SKLEARN_ESTIMATOR_TYPE_NAMES": ["os.system"]}}))
    assert "was written for" in skops_table.install(stale)
    assert "no precomputed table" in skops_table.install(tmp_path / "missing.json")
    (tmp_path / "torn.json").write_text('{"versions": ')
    assert "unreadable" in skops_table.install(tmp_path / "torn.json")


def test_the_collector_is_back_on_and_the_start_up_frozen_once_every_model_has_settled(tmp_path):
    from mlkube_server.app import create_app
    from mlkube_server.settings import ServerSettings

    app = create_app(ServerSettings(models={"nowhere": str(tmp_path / "no-model")}, retry_failed_seconds=0))
    repository = app.state.mlkube.repository

    async def start_and_wait() -> tuple[str, bool, int]:
        async with app.router.lifespan_context(app):
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (repository.pending_count == 0 and gc.isenabled()):
                await asyncio.sleep(0.05)
            return repository.entries["nowhere"].state.value, gc.isenabled(), gc.get_freeze_count()

    was_enabled = gc.isenabled()
    gc.disable()  # as mlkube-serve starts
    try:
        state, enabled, frozen = asyncio.run(start_and_wait())
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
    assert state == "failed"
    assert enabled and frozen > 0
