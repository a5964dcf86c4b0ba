"""The SQLite copy that the registry backup runs in MLflow's pod (registry_backup_sqlite_copy in the role's
vars), run here as the role runs it: a consistent snapshot of a database being written, and a restore into a
database that another process holds open."""

from __future__ import annotations

import shlex
import sqlite3
import subprocess
import threading
from pathlib import Path

import yaml

from tests.ansible.playbook import ANSIBLE_DIR

VARS = ANSIBLE_DIR / "roles" / "registry_backup" / "vars" / "main.yml"


def sqlite_copy(source: Path, target: Path) -> subprocess.CompletedProcess:
    command = yaml.safe_load(VARS.read_text())["registry_backup_sqlite_copy"]
    # k8s_exec splits its command string with shlex, as here.
    return subprocess.run([*shlex.split(command), str(source), str(target)], capture_output=True, text=True, timeout=60)


def database(path: Path, rows: int = 0) -> None:
    with sqlite3.connect(path) as db:
        db.execute("create table versions (id integer primary key, pair integer not null)")
        db.executemany("insert into versions (pair) values (?)", [(i // 2,) for i in range(rows)])
    db.close()


def test_a_copy_taken_while_a_writer_commits_holds_only_whole_transactions(tmp_path: Path) -> None:
    live, copy = tmp_path / "mlflow.db", tmp_path / "copy.db"
    database(live)
    stop = threading.Event()

    def write() -> None:  # MLflow's side: each transaction adds two rows
        db = sqlite3.connect(live, timeout=30)
        pair = 0
        while not stop.is_set():
            with db:
                db.executemany("insert into versions (pair) values (?)", [(pair,), (pair,)])
            pair += 1
        db.close()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while sqlite3.connect(live, timeout=30).execute("select count(*) from versions").fetchone()[0] < 200:
            pass
        proc = sqlite_copy(live, copy)
    finally:
        stop.set()
        writer.join()
    assert proc.returncode == 0, proc.stderr
    db = sqlite3.connect(copy)
    assert db.execute("pragma integrity_check").fetchone() == ("ok",)
    count, pairs = db.execute("select count(*), count(distinct pair) from versions").fetchone()
    assert count >= 200 and count == 2 * pairs, (count, pairs)


def test_a_restore_reaches_a_process_that_holds_the_database_open(tmp_path: Path) -> None:
    live, backup = tmp_path / "mlflow.db", tmp_path / "backup.db"
    database(live, rows=3)
    database(backup, rows=10)
    reader = sqlite3.connect(live)
    assert reader.execute("select count(*) from versions").fetchone() == (3,)
    proc = sqlite_copy(backup, live)
    assert proc.returncode == 0, proc.stderr
    assert reader.execute("select count(*) from versions").fetchone() == (10,)


def test_a_missing_source_fails_without_creating_it(tmp_path: Path) -> None:
    missing, target = tmp_path / "missing.db", tmp_path / "target.db"
    proc = sqlite_copy(missing, target)
    assert proc.returncode != 0
    assert "unable to open database file" in proc.stderr
    assert not missing.exists()
