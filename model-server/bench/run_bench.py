"""`make bench`: this server against KServe's and MLServer's on the same trained pipelines, one table.

1. Starts a real MLflow server (SQLite, in .cache/bench/run) and trains the Penguins random forest (100 trees)
   and logistic regression with the real trainer (model-server/bench/penguins-bench.yaml).
2. Measures the in-process ``predict_proba`` floor (pinned to the server core).
3. Starts each server pinned to core 0 (taskset), each from its own virtualenv, all serving the same two
   pipelines, and drives it from core 1 with bench/loadgen.py: single rows at concurrency 1 and 8 and
   100-row batches at concurrency 8, each for a fixed duration, over the V2 infer endpoint.
4. Prints one table (requests/s, p50, p99, errors, ratio of this server to each peer and to the floor)
   and the issue's targets; writes .cache/bench/results.json. Exits non-zero only if the run itself broke.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.mlflow_server import run_mlflow_server  # noqa: E402
from tests.support.processes import ManagedProcess, ProcessFailed, free_port, wait_for_http  # noqa: E402
from tests.support.training import train_penguins  # noqa: E402

BENCH = ROOT / "model-server" / "bench"
HOST = "127.0.0.1"
SERVER_CORE, CLIENT_CORE = "0", "1"
COLUMNS = ("island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex")
ROW = ("Biscoe", 39.1, 18.7, 181.0, 3750.0, "male")
PEER_MODEL_FILE = "model.joblib"
MODELS = {"random_forest": "penguins-random-forest", "logistic_regression": "penguins-logistic-regression"}


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    rows: int
    concurrency: int


SCENARIOS = (
    Scenario("row-c1", "1 row, concurrency 1", 1, 1),
    Scenario("row-c8", "1 row, concurrency 8", 1, 8),
    Scenario("batch100-c8", "100 rows, concurrency 8", 100, 8),
)


def v2_body(rows: int, want_proba_output: bool) -> bytes:
    body: dict = {
        "parameters": {"content_type": "pd"},  # MLServer and KServe decode named columns into a DataFrame
        "inputs": [
            {"name": c, "shape": [rows], "datatype": "BYTES" if isinstance(v, str) else "FP64", "data": [v] * rows}
            for c, v in zip(COLUMNS, ROW, strict=True)
        ],
    }
    if want_proba_output:  # MLServer computes predict() unless asked; KServe's model always answers predict_proba
        body["outputs"] = [{"name": "predict_proba"}]
    return json.dumps(body).encode()


def pinned(core: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", core, *argv]


class Peer:
    name = ""
    wants_outputs = True
    only_models: tuple[str, ...] | None = None  # None: every bench model

    def __init__(self, cache: Path, model_dirs: dict[str, Path], registry: dict[str, str], tracking_uri: str):
        self.cache, self.model_dirs, self.registry, self.tracking_uri = cache, model_dirs, registry, tracking_uri
        self.port = free_port(HOST)

    def unavailable(self) -> str | None:
        return None

    def start(self, log: Path) -> ManagedProcess:
        raise NotImplementedError

    def url(self, model: str) -> str:
        return f"http://{HOST}:{self.port}/v2/models/{model}/infer"


class MlkubeServer(Peer):
    name = "mlkube"
    extra_env: dict[str, str] = {}

    def start(self, log: Path) -> ManagedProcess:
        argv = [str(ROOT / ".venv" / "bin" / "mlkube-serve"), "--host", HOST, "--port", str(self.port),
                "--tracking-uri", self.tracking_uri]  # fmt: skip
        for name, uri in self.registry.items():
            argv += ["--model", f"{name}={uri}"]
        env = {**os.environ, "MLKUBE_SERVER_MODEL_CACHE_DIR": str(self.cache / "mlkube-models"), **self.extra_env}
        return ManagedProcess("mlkube-serve", pinned(SERVER_CORE, argv), log, env=env)


class MlkubeSklearnServer(MlkubeServer):
    """This server with its compiled forest evaluator off: what batching alone gives (random forest only)."""

    name = "mlkube-sk"
    extra_env = {"MLKUBE_SERVER_COMPILE_TREES": "false"}
    only_models = (MODELS["random_forest"],)


class KServeServer(Peer):
    name = "kserve"
    wants_outputs = False

    def python(self) -> Path:
        return self.cache / "kserve-venv" / "bin" / "python"

    def unavailable(self) -> str | None:
        return None if self.python().exists() else "not installed: .cache/bench/kserve-venv missing (make bench-peers)"

    def start(self, log: Path) -> ManagedProcess:
        argv = [str(self.python()), str(BENCH / "peers" / "kserve_sklearn.py"), "--http-port", str(self.port)]
        for name, directory in self.model_dirs.items():
            argv += ["--model", f"{name}={directory}"]
        return ManagedProcess("kserve", pinned(SERVER_CORE, argv), log)


class MLServerServer(Peer):
    name = "mlserver"

    def binary(self) -> Path:
        return self.cache / "mlserver-venv" / "bin" / "mlserver"

    def unavailable(self) -> str | None:
        return None if self.binary().exists() else "not installed: .cache/bench/mlserver-venv missing (make bench-peers)"

    def start(self, log: Path) -> ManagedProcess:
        repo = self.cache / "mlserver-repo"
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)
        settings = {"http_port": self.port, "grpc_port": free_port(HOST), "metrics_port": free_port(HOST), "host": HOST}
        (repo / "settings.json").write_text(json.dumps(settings))
        for name, directory in self.model_dirs.items():
            (repo / name).mkdir()
            model_settings = {
                "name": name,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": str(directory / PEER_MODEL_FILE), "version": "1"},
            }
            (repo / name / "model-settings.json").write_text(json.dumps(model_settings))
        code_dirs = os.pathsep.join(str(d / "code") for d in self.model_dirs.values())
        env = {**os.environ, "PYTHONPATH": code_dirs}
        return ManagedProcess("mlserver", pinned(SERVER_CORE, [str(self.binary()), "start", str(repo)]), log,
                              env=env, cwd=repo)  # fmt: skip


def floor(model_dir: Path, rows: int, seconds: float = 5.0) -> dict:
    """In-process predict_proba calls per second on the server core: the cost of the model alone."""
    script = f"""
import sys, time, json, pandas as pd, mlflow.sklearn
model = mlflow.sklearn.load_model({str(model_dir)!r})
frame = pd.DataFrame([dict(zip({list(COLUMNS)!r}, {list(ROW)!r}))] * {rows})
model.predict_proba(frame)
calls, start = 0, time.perf_counter()
while time.perf_counter() - start < {seconds}:
    model.predict_proba(frame); calls += 1
elapsed = time.perf_counter() - start
print(json.dumps({{"rps": calls / elapsed, "p50_ms": elapsed / calls * 1000}}))
"""
    out = subprocess.run(pinned(SERVER_CORE, [sys.executable, "-c", script]), capture_output=True, text=True,
                         check=True, timeout=120)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def drive(url: str, body: Path, concurrency: int, duration: float) -> dict:
    argv = pinned(CLIENT_CORE, [sys.executable, str(BENCH / "loadgen.py"), url, str(body),
                                "--concurrency", str(concurrency), "--duration", str(duration), "--warmup", "1"])  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False)
    if out.returncode != 0:
        return {"rps": 0.0, "p50_ms": None, "p99_ms": None, "errors": -1, "first_error": out.stderr[-300:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement (default 8)")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench")
    args = parser.parse_args()
    cache: Path = args.cache
    run_dir = cache / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        print("bench needs taskset and at least 2 cores (server on core 0, load generator on core 1)")
        return 2

    results: dict = {"duration_s": args.duration, "servers": {}, "floor": {}, "unavailable": {}}
    with run_mlflow_server(run_dir / "mlflow") as mlflow_server:
        print(f"==> training the bench pipelines into MLflow at {mlflow_server.url}", flush=True)
        trained = train_penguins(
            mlflow_server.url, algorithms=tuple(MODELS), config=BENCH / "penguins-bench.yaml"
        )
        registry = {m.name: m.model_uri for m in trained}
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_server.url  # models:/ downloads go through its registry
        model_dirs = {}
        import mlflow.artifacts

        import joblib
        import mlflow.sklearn

        for model in trained:
            target = run_dir / "models" / model.name
            target.mkdir(parents=True)
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=model.model_uri, dst_path=str(target), tracking_uri=mlflow_server.url
                )
            )
            # The peers load one joblib file (KServe's sklearnserver and MLServer's runtime alike): the very
            # pipeline MLflow holds, re-serialised; its own module travels in code/ (PYTHONPATH).
            joblib.dump(mlflow.sklearn.load_model(str(local)), local / PEER_MODEL_FILE)
            model_dirs[model.name] = local
        print("==> in-process predict_proba floor", flush=True)
        for name, directory in model_dirs.items():
            by_rows = {rows: floor(directory, rows) for rows in sorted({s.rows for s in SCENARIOS})}
            results["floor"][name] = {s.key: by_rows[s.rows] for s in SCENARIOS}

        bodies = {}
        for scenario in SCENARIOS:
            for wants in (True, False):
                path = run_dir / f"body-{scenario.rows}-{int(wants)}.json"
                path.write_bytes(v2_body(scenario.rows, wants))
                bodies[(scenario.rows, wants)] = path

        for cls in (MlkubeServer, MlkubeSklearnServer, KServeServer, MLServerServer):
            peer = cls(cache, model_dirs, registry, mlflow_server.url)
            reason = peer.unavailable()
            if reason:
                results["unavailable"][peer.name] = reason
                print(f"==> {peer.name}: {reason}", flush=True)
                continue
            print(f"==> {peer.name} on core {SERVER_CORE}, port {peer.port}", flush=True)
            process = peer.start(run_dir / f"{peer.name}.log")
            try:
                try:
                    for name in model_dirs:
                        wait_for_http(f"http://{HOST}:{peer.port}/v2/models/{name}/ready", timeout=180, process=process)
                except ProcessFailed as exc:
                    results["unavailable"][peer.name] = f"did not start: {str(exc).splitlines()[0]}"
                    print(f"    {results['unavailable'][peer.name]}", flush=True)
                    continue
                measured = results["servers"].setdefault(peer.name, {})
                for name in model_dirs:
                    if peer.only_models is not None and name not in peer.only_models:
                        continue
                    for scenario in SCENARIOS:
                        body = bodies[(scenario.rows, peer.wants_outputs)]
                        outcome = drive(peer.url(name), body, scenario.concurrency, args.duration)
                        measured.setdefault(name, {})[scenario.key] = outcome
                        print(f"    {name:30s} {scenario.label:26s} {fmt(outcome['rps']):>8s} req/s  "
                              f"p50 {fmt(outcome['p50_ms'])} ms  p99 {fmt(outcome['p99_ms'])} ms  "
                              f"errors {outcome['errors']}", flush=True)  # fmt: skip
            finally:
                process.stop()

    (cache / "results.json").write_text(json.dumps(results, indent=2))
    print_table(results)
    return 0


def print_table(results: dict) -> None:
    servers = results["servers"]
    mine = servers.get("mlkube", {})
    peers = [p for p in ("kserve", "mlserver") if p in servers]
    print()
    print(f"Penguins pipelines, V2 REST on loopback, each server pinned to one core, {results['duration_s']:g} s per cell")
    header = f"{'model':30s} {'load':24s} {'server':9s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>6s}  {'mlkube ÷ it':>11s}"
    print(header)
    print("-" * len(header))
    for model in results["floor"]:
        for scenario in SCENARIOS:
            ours = mine.get(model, {}).get(scenario.key)
            floor_cell = results["floor"][model][scenario.key]
            rows = [("floor", floor_cell)] + [(p, servers[p].get(model, {}).get(scenario.key))
                                              for p in ["mlkube", "mlkube-sk", *peers] if p in servers]
            for server, cell in rows:
                if cell is None:
                    continue
                ratio = "-" if server == "mlkube" or not ours or not cell["rps"] else f"{ours['rps'] / cell['rps']:.2f}x"
                errors = "-" if server == "floor" else str(cell["errors"])
                p99 = "-" if server == "floor" else fmt(cell["p99_ms"])
                label = "in-process" if server == "floor" else server
                print(f"{model:30s} {scenario.label:24s} {label:9s} {fmt(cell['rps']):>8s} {fmt(cell['p50_ms']):>8s} "
                      f"{p99:>8s} {errors:>6s}  {ratio:>11s}")  # fmt: skip
    for name, reason in results["unavailable"].items():
        print(f"{name}: {reason}")
    print("in-process: the pipeline's predict_proba called back to back on the server core (req/s = calls/s,")
    print("p50 = mean call); 'mlkube ÷ it' above 1 means this server answered more requests per second.")
    print("mlkube-sk: this server with MLKUBE_SERVER_COMPILE_TREES=false (scikit-learn evaluates the forest):")
    print("what adaptive batching alone gives; mlkube evaluates the same forest with its compiled NumPy evaluator.")
    print()
    print_targets(results)


def print_targets(results: dict) -> None:
    servers = results["servers"]
    peers = [p for p in ("kserve", "mlserver") if p in servers]
    if "mlkube" not in servers or not peers:
        print("targets: not evaluated (this server or every peer is missing)")
        return
    mine = servers["mlkube"]

    def best(model: str, key: str, field: str, highest: bool) -> float:
        values = [servers[p][model][key][field] for p in peers if servers[p][model][key][field] is not None]
        return (max if highest else min)(values) if values else float("nan")

    rf, lr = MODELS["random_forest"], MODELS["logistic_regression"]
    checks = [
        ("random forest, 1 row c8: req/s >= 5x best peer", mine[rf]["row-c8"]["rps"] / best(rf, "row-c8", "rps", True), 5.0, True),
        ("random forest, 1 row c8: p99 <= 0.5x best peer", mine[rf]["row-c8"]["p99_ms"] / best(rf, "row-c8", "p99_ms", False), 0.5, False),
        ("random forest, 100 rows c8: req/s >= 1.5x best peer", mine[rf]["batch100-c8"]["rps"] / best(rf, "batch100-c8", "rps", True), 1.5, True),
        ("logistic regression, 1 row c8: req/s >= 3x best peer", mine[lr]["row-c8"]["rps"] / best(lr, "row-c8", "rps", True), 3.0, True),
    ]  # fmt: skip
    print("targets (issue 3):")
    for label, value, target, higher in checks:
        met = value >= target if higher else value <= target
        print(f"  {'met ' if met else 'MISS'} {label}: {value:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
