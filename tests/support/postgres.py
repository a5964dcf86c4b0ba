"""A throw-away PostgreSQL cluster from Debian's ``postgresql`` package (``initdb`` + ``pg_ctl``).

``initdb`` refuses to run as root, so when the tests run as root the cluster belongs to the ``postgres``
system user (created by the Debian package) and the commands run through ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .processes import ProcessFailed, free_port

HOST = "127.0.0.1"
SUPERUSER = "mlkube"


class PostgresNotInstalled(RuntimeError):
    pass


def postgres_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<major>/bin`` that holds ``initdb``."""
    candidates = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise PostgresNotInstalled(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; "
            "install them with `apt-get install -y postgresql` (make test-training does this)"
        )
    return candidates[-1]


@dataclass(frozen=True)
class PostgresInstance:
    port: int
    socket_dir: Path
    data_dir: Path
    log_path: Path
    user: str = SUPERUSER
    host: str = HOST

    def dsn(self, database: str = "postgres") -> str:
        """SQLAlchemy/libpq URL for ``database`` over loopback TCP (trust authentication)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def sqlalchemy_url(self, database: str = "postgres", driver: str = "psycopg2") -> str:
        """The same database as a SQLAlchemy URL naming the driver. A bare ``postgresql://`` (``dsn()``, what
        the MLflow chart passes) means psycopg 3 under SQLAlchemy 2.1; both drivers are installed."""
        return f"postgresql+{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its DSN."""
        import psycopg2  # the server's MLflow image ships psycopg2-binary too

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname="postgres")
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.dsn(name)


def _owner() -> str | None:
    """The user that owns and runs the cluster: None = the current (non-root) user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise PostgresNotInstalled("running as root and neither a 'postgres' nor a 'nobody' user exists")


def _run_as(owner: str | None, argv: list[str], log_path: Path, timeout: float) -> None:
    if owner is not None:
        argv = ["runuser", "-u", owner, "--", *argv]
    with open(log_path, "ab") as log:
        result = subprocess.run(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout, check=False
        )
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise ProcessFailed(f"{' '.join(argv)} exited with {result.returncode}; log {log_path}:\n{tail}")


@contextlib.contextmanager
def run_postgres(startup_timeout: float = 60.0) -> Iterator[PostgresInstance]:
    """Initialise a cluster in a fresh temporary directory, start it, stop it and delete it on exit."""
    bindir = postgres_bindir()
    owner = _owner()
    # pytest's tmp dirs are mode 0700 for root; the cluster owner needs its own directory.
    base = Path(tempfile.mkdtemp(prefix="mlkube-pg-"))
    data_dir, socket_dir, log_path = base / "data", base / "run", base / "postgres.log"
    socket_dir.mkdir()
    log_path.touch()
    if owner is not None:
        entry = pwd.getpwnam(owner)
        for path in (base, socket_dir, log_path):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = free_port(HOST)
    started = False
    try:
        _run_as(
            owner,
            [str(bindir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
             "--no-sync"],
            log_path,
            timeout=120,
        )  # fmt: skip
        options = (
            f"-c listen_addresses={HOST} -c port={port} -c unix_socket_directories={socket_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        _run_as(
            owner,
            [str(bindir / "pg_ctl"), "-D", str(data_dir), "-l", str(log_path), "-o", options,
             "-w", "-t", str(int(startup_timeout)), "start"],
            log_path,
            timeout=startup_timeout + 10,
        )  # fmt: skip
        started = True
        yield PostgresInstance(port=port, socket_dir=socket_dir, data_dir=data_dir, log_path=log_path)
    finally:
        if started:
            _run_as(
                owner,
                [str(bindir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
                log_path,
                timeout=60,
            )
        shutil.rmtree(base, ignore_errors=True)
