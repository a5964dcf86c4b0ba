"""Runs mlkube's playbook from the Ansible venv (.cache/ansible-venv, made by `make ansible-venv`)
and parses the ansible.posix.json callback's report."""

from __future__ import annotations

import datetime
import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.kube import read_env_file

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = read_env_file(ROOT / "versions.env")
ANSIBLE_DIR = ROOT / "ansible"
INVENTORIES = ("kind", "cloud", "local")
# Every playbook run's slowest tasks, appended for `make test-ansible-*` to print at the end (where CI time goes).
TIMINGS = Path(os.environ.get("MLKUBE_PLAYBOOK_TIMES", ROOT / ".cache" / "ansible" / "playbook-times.txt"))
SLOWEST = 8


def ansible_venv() -> Path:
    return Path(os.environ.get("MLKUBE_ANSIBLE_VENV", ROOT / ".cache" / "ansible-venv"))


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str
    report: dict = field(default_factory=dict)

    @property
    def stats(self) -> dict:
        return self.report.get("stats", {}).get("localhost", {})

    def results(self) -> dict[str, dict]:
        """Task name -> the host's result, for every task that ran on the host (last one wins)."""
        found: dict[str, dict] = {}
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                result = task.get("hosts", {}).get("localhost")
                if result is not None:
                    found[task["task"]["name"]] = result
        return found

    def result(self, name_part: str) -> dict:
        matches = [r for name, r in self.results().items() if name_part in name]
        assert matches, f"no task named like {name_part!r} ran; tasks: {list(self.results())}"
        return matches[-1]

    def task_seconds(self) -> list[tuple[float, str]]:
        """(seconds, task name) of every task the json callback timed, slowest first."""
        timed = []
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                duration = task["task"].get("duration") or {}
                if "start" in duration and "end" in duration:
                    start, end = (datetime.datetime.fromisoformat(duration[k]) for k in ("start", "end"))
                    timed.append(((end - start).total_seconds(), task["task"]["name"]))
        return sorted(timed, reverse=True)

    def failure_messages(self) -> list[str]:
        """Each failed task's message; a failed loop adds its items' messages (the json callback leaves out their
        `failed`: only a failed item has a `msg`)."""
        messages = []
        for result in self.results().values():
            if result.get("failed"):
                messages.append(str(result.get("msg", "")))
                messages += [str(item["msg"]) for item in result.get("results", []) if "msg" in item]
        return messages

    def explain(self) -> str:
        lines = [f"rc={self.rc}"]
        for name, result in self.results().items():
            if result.get("failed"):
                lines.append(f"FAILED {name}: {result.get('msg', '')}")
                for stream in ("stdout", "stderr"):
                    if result.get(stream):
                        lines.append(f"  {stream}: ...{result[stream][-1500:]}")
        lines.append(f"ansible-playbook stderr: {self.stderr[-1500:]}")
        return "\n".join(lines)


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    env.update(
        ANSIBLE_CONFIG=str(ANSIBLE_DIR / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        PATH=f"{ansible_venv() / 'bin'}:{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def run_playbook(
    inventory: str, *args: str, timeout: float = 1800, playbook: str = "site.yml", **env: str
) -> PlaybookRun:
    proc = subprocess.run(
        ["ansible-playbook", "-i", f"inventories/{inventory}/hosts.yml", playbook, *args],
        cwd=ANSIBLE_DIR,
        env=ansible_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    try:
        report = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        report = {}
    run = PlaybookRun(proc.returncode, proc.stdout, proc.stderr, report)
    record_timings(run, [inventory, *args])
    return run


def record_timings(run: PlaybookRun, argv: list[str]) -> None:
    tasks = run.task_seconds()
    if not tasks:
        return
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{shlex.join(argv)}: {sum(seconds for seconds, _ in tasks):.0f} s in tasks, slowest:"]
    lines += [f"  {seconds:7.1f} s  {name}" for seconds, name in tasks[:SLOWEST]]
    with TIMINGS.open("a") as out:
        out.write("\n".join(lines) + "\n")


def built_kubectl() -> Path:
    """Where the local cluster's build puts its kubectl (the kind node image's build too)."""
    return ROOT / ".cache" / "cluster-bin" / f"kubernetes-{VERSIONS['KUBERNETES_VERSION']}" / "kubectl"


def built_kubectl_output(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    """What the built kubectl prints for args against kubeconfig; raises CalledProcessError when it fails."""
    return subprocess.run(
        [built_kubectl(), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout


def find_kubectl() -> str:
    """The local cluster's own kubectl when it has been built, else one on PATH."""
    built = built_kubectl()
    if built.is_file():
        return str(built)
    found = shutil.which("kubectl")
    assert found, "no kubectl: build the local cluster (make local-cluster-build) or install kubectl"
    return found
