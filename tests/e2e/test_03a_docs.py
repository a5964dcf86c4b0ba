"""8. The commands users are told to run work as written: the README's `docs-test: run` blocks and what
`make up` prints (its shell line, "Try it" and "Roll out"), run by bash in a newcomer's environment.

A newcomer's shell has neither the pinned tools on PATH nor KUBECONFIG set; everything comes from the
`eval "$(make env)"` line the docs give. The only rewrite: the README is written for the namespace `make up`
installs into (`-n mlkube`); this suite's platform lives in its own namespace.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from .docs import commands, printed_section, readme_blocks
from .kube import CACHE, KUBECONFIG, NAMESPACE, ROOT, TARGET
from .platform import RELEASE

README_NAMESPACE = "mlkube"


def _newcomer_env() -> dict[str, str]:
    own = (str(CACHE / "bin"), str(ROOT / ".venv" / "bin"))
    path = ":".join(p for p in os.environ.get("PATH", "").split(":") if p not in own)
    # A newcomer's shell has no MLflow credentials or signing key either: the README says where they come from.
    prefixes = ("KUBECONFIG", "MAKE", "MFLAGS", "MLFLOW_", "MLKUBE_TRAIN_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, "PATH": path, "MLKUBE_TARGET": TARGET}


def _bash(script: str, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-x", "-c", script],
        cwd=ROOT,
        env=_newcomer_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"exited {proc.returncode}:\n{proc.stderr[-4000:]}\n{proc.stdout[-2000:]}"
    return proc


def _in_suite_namespace(command: str) -> str:
    return command.replace(f" -n {README_NAMESPACE} ", f" -n {NAMESPACE} ")


@pytest.fixture(scope="module")
def printed(platform) -> str:
    """What `make up` prints once the platform is up (its last step), for this suite's release."""
    env = {**os.environ, "KUBECONFIG": str(KUBECONFIG), "PATH": f"{CACHE / 'bin'}:{os.environ['PATH']}"}
    proc = subprocess.run(
        [str(ROOT / "ansible" / "scripts" / "print-access.sh"), TARGET, NAMESPACE, RELEASE],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    print(proc.stdout)
    return proc.stdout


def test_the_printed_shell_line_gives_a_newcomer_kubectl_and_helm(printed):
    shell_line = printed_section(printed, "Your shell")
    assert len(shell_line) == 1 and shell_line[0].startswith("eval "), shell_line
    proc = _bash(
        f"{shell_line[0]}\ncommand -v kubectl helm\nkubectl get namespace {NAMESPACE} -o name\n"
        f"helm -n {NAMESPACE} status {RELEASE}"
    )
    assert str(CACHE / "bin" / "kubectl") in proc.stdout and str(CACHE / "bin" / "helm") in proc.stdout
    assert f"namespace/{NAMESPACE}" in proc.stdout and "STATUS: deployed" in proc.stdout


def test_the_printed_try_it_commands_answer_with_predictions(printed):
    shell_line = printed_section(printed, "Your shell")[0]
    tries = printed_section(printed, "Try it")
    assert len(tries) == 3, tries
    for command in tries:
        answer = json.loads(_bash(f"{shell_line}\n{command}", timeout=60).stdout)
        assert "detail" not in answer and "error" not in answer, (command, answer)


def test_the_printed_roll_out_commands_work(printed):
    shell_line = printed_section(printed, "Your shell")[0]
    _bash("\n".join([shell_line, *printed_section(printed, "Roll out")]), timeout=400)


def test_the_readme_command_blocks_work_as_written(platform):
    blocks = [b for b in readme_blocks(ROOT / "README.md") if b.action == "run"]
    assert blocks
    # The blocks are one session in one shell, as the README says: the first one sets up that shell.
    script = "\n".join(
        f"# README.md:{b.line}\n" + "\n".join(_in_suite_namespace(f"{c} ") for c in commands(b.text)) for b in blocks
    )
    print(f"\n{script}")
    try:
        _bash(script)
    finally:  # leave the release as the suite installed it (rolling), whatever failed
        _bash(
            f'eval "$(make env)"\nhelm -n {NAMESPACE} upgrade {RELEASE} charts/mlkube --reuse-values --wait '
            "--set model-server.strategy=rolling"
        )
