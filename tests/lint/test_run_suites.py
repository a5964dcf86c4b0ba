"""`make test`'s runner (tests/run_suites.sh) with a stand-in for make: suites joined by + run at the same time,
each suite's own time and status are printed, and the first failing step stops the run unless KEEP_GOING."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "run_suites.sh"


def fake_make(tmp_path: Path) -> Path:
    """`make SUITE` for suites named `<name>-<seconds>`: sleeps that long, logs start and end, fails for `fail-*` with
    a line as pytest prints a failed test."""
    script = tmp_path / "make"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "start $1" >> {tmp_path}/log\n'
        'echo "running $1"\n'
        'sleep "${1##*-}"\n'
        f'echo "end $1" >> {tmp_path}/log\n'
        '[[ "$1" != fail-* ]] || echo "FAILED tests/x.py::test_$1 - AssertionError: boom"\n'
        '[[ "$1" != fail-* ]]\n'
    )
    script.chmod(0o755)
    return script


def run(tmp_path: Path, *steps: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    proc = subprocess.run(
        [str(RUNNER), str(fake_make(tmp_path)), *steps],
        capture_output=True,
        text=True,
        timeout=60,
        env={**{k: v for k, v in os.environ.items() if k != "KEEP_GOING"}, **env},  # a make test's own stays out
    )
    return proc, time.monotonic() - started


def phase_times(stdout: str) -> dict[str, str]:
    table = stdout.split("==> phase times\n", 1)[1]
    return {m.group(1): m.group(2) for m in re.finditer(r"^(\S+)\s+(ok|FAILED)\s+\d+s$", table, re.M)}


def test_suites_joined_by_plus_run_at_the_same_time_with_their_output_prefixed(tmp_path):
    proc, took = run(tmp_path, "a-0", "b-2+c-2", "d-0")
    assert proc.returncode == 0, proc.stderr
    log = (tmp_path / "log").read_text().splitlines()
    assert log.index("start c-2") < log.index("end b-2") and log.index("start b-2") < log.index("end c-2"), log
    assert took < 4, "b and c ran one after the other"
    assert "[b-2] running b-2" in proc.stdout and "[c-2] running c-2" in proc.stdout
    assert phase_times(proc.stdout) == {"a-0": "ok", "b-2": "ok", "c-2": "ok", "d-0": "ok"}
    assert "(side by side)" in proc.stdout


def test_a_failing_suite_stops_the_run_after_its_step(tmp_path):
    proc, _ = run(tmp_path, "a-0", "fail-0+c-1", "d-0")
    assert proc.returncode == 1
    assert phase_times(proc.stdout) == {"a-0": "ok", "fail-0": "FAILED", "c-1": "ok"}
    assert "FAILED: fail-0" in proc.stdout
    assert "start d-0" not in (tmp_path / "log").read_text()


def test_the_failed_tests_of_a_failed_suite_are_repeated_after_the_phase_times(tmp_path):
    proc, _ = run(tmp_path, "c-1+fail-0")
    after = proc.stdout.split("==> phase times\n", 1)[1]
    assert "==> fail-0 failed:\n[fail-0] FAILED tests/x.py::test_fail-0 - AssertionError: boom\n" in after, after
    assert "c-1" not in after.split("(side by side)")[1], after


def test_keep_going_runs_every_step_and_still_fails(tmp_path):
    proc, _ = run(tmp_path, "fail-0", "d-0", KEEP_GOING="1")
    assert proc.returncode == 1
    assert phase_times(proc.stdout) == {"fail-0": "FAILED", "d-0": "ok"}
