"""The MLflow chart's PostgreSQL image entrypoint, run with Debian's server binaries: a database initialised with
one password takes the environment's new password on its next start (a Secret generated anew over a kept volume),
and the password never appears in its log."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.support.postgres import _owner, postgres_bindir
from tests.support.processes import ManagedProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "ansible" / "roles" / "images" / "files" / "postgres" / "entrypoint.sh"
USER, DATABASE = "mlflow", "mlflow"
FIRST, SECOND = "first-pass'word", "second-password"


@pytest.fixture
def workdir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="mlkube-pg-entrypoint-"))
    owner = _owner()
    shutil.copy(ENTRYPOINT, base / "entrypoint.sh")
    (base / "run").mkdir()
    if owner is not None:
        entry = pwd.getpwnam(owner)
        for path in (base, base / "run", base / "entrypoint.sh"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def start(base: Path, password: str, port: int, run: int) -> ManagedProcess:
    env = {
        "PATH": f"{postgres_bindir()}:/usr/sbin:/usr/bin:/sbin:/bin",
        "PGDATA": str(base / "data"),
        "POSTGRES_USER": USER,
        "POSTGRES_DB": DATABASE,
        "POSTGRES_PASSWORD": password,
        "POSTGRES_SOCKET_DIR": str(base / "run"),
    }
    argv = [
        "bash",
        str(base / "entrypoint.sh"),
        "-c",
        f"port={port}",
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={base / 'run'}",
        "-c",
        "fsync=off",
    ]
    owner = _owner()
    if owner is not None:
        argv = ["runuser", "-u", owner, "--", "env", *(f"{k}={v}" for k, v in env.items()), *argv]
    return ManagedProcess(f"postgres entrypoint (start {run})", argv, base / f"start-{run}.log", env=env)


def stop(base: Path, process: ManagedProcess) -> None:
    """`pg_ctl stop` as the server's user (a signal to runuser's group may not reach the postmaster), then the
    process group."""
    argv = [str(postgres_bindir() / "pg_ctl"), "-D", str(base / "data"), "-m", "fast", "-w", "stop"]
    owner = _owner()
    if owner is not None:
        argv = ["runuser", "-u", owner, "--", *argv]
    subprocess.run(argv, capture_output=True, timeout=60, check=False)
    process.stop(timeout=30)


def connect(port: int, password: str):
    return psycopg2.connect(
        host="127.0.0.1", port=port, user=USER, password=password, dbname=DATABASE, connect_timeout=5
    )


def wait_until_it_answers(process: ManagedProcess, port: int, password: str, limit_s: float = 90) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        if not process.alive():
            raise process.fail("exited")
        try:
            connect(port, password).close()
            return
        except psycopg2.OperationalError as exc:
            if "password authentication failed" in str(exc) or time.monotonic() > deadline:
                raise process.fail(f"does not take the password: {exc}") from exc
            time.sleep(0.5)


def test_a_new_password_is_applied_to_an_initialised_database(workdir: Path) -> None:
    port = free_port()
    first = start(workdir, FIRST, port, 1)
    try:
        wait_until_it_answers(first, port, FIRST)
        with connect(port, FIRST) as conn, conn.cursor() as cursor:
            cursor.execute("CREATE TABLE kept (id int)")
    finally:
        stop(workdir, first)

    second = start(workdir, SECOND, port, 2)
    try:
        wait_until_it_answers(second, port, SECOND)
        with connect(port, SECOND) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM kept")
            assert cursor.fetchone() == (0,)
        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            connect(port, FIRST)
    finally:
        stop(workdir, second)
    log = second.log_tail(100_000)
    assert f"applied the password of {USER}" in log
    assert SECOND not in log and FIRST not in first.log_tail(100_000)


def test_a_server_killed_outright_starts_again_with_its_data(workdir: Path) -> None:
    """A pod force-deleted (the fault suite does it on the cluster) leaves postmaster.pid behind; in the new
    container the PID it names is alive but is no postgres (here: PID 1), which PostgreSQL alone refuses to start on."""
    port = free_port()
    first = start(workdir, FIRST, port, 1)
    try:
        wait_until_it_answers(first, port, FIRST)
        with connect(port, FIRST) as conn, conn.cursor() as cursor:
            cursor.execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
    finally:
        lock = workdir / "data" / "postmaster.pid"
        postmaster = int(lock.read_text().splitlines()[0])
        os.killpg(first.pid, signal.SIGKILL)  # the postmaster and its backends at once, as a kill of the pod does
        os.kill(postmaster, signal.SIGKILL)
        first.stop(timeout=30)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{postmaster}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lock.exists(), "a killed server should leave its lock file"
    lines = lock.read_text().splitlines()
    lock.write_text("\n".join(["1", *lines[1:]]) + "\n")

    second = start(workdir, FIRST, port, 2)
    try:
        wait_until_it_answers(second, port, FIRST)
        with connect(port, FIRST) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT id FROM kept")
            assert cursor.fetchall() == [(1,)]
    finally:
        stop(workdir, second)
    assert "removed postmaster.pid of a server that was killed (pid 1)" in second.log_tail(100_000)
