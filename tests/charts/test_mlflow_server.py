"""MLflow's server process: what it runs besides the tracking server."""

from __future__ import annotations

from chart_helpers import RELEASE, Scenario, find, render


def _server_env(*sets: str) -> dict[str, str]:
    [deployment] = find(render(Scenario("mlflow", sets=sets)), "Deployment", f"{RELEASE}-mlflow")
    [server] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "mlflow"]
    return {e["name"]: e.get("value", "") for e in server["env"]}


def test_the_job_runner_is_off_unless_asked_for() -> None:
    """MLflow starts eight job processes by default (GenAI jobs the platform never runs)."""
    assert _server_env()["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert _server_env("server.jobExecution=true")["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "true"
