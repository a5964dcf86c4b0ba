"""Reusable test support: real processes on loopback, shared by every suite.

Plain helpers (usable from scripts and any test framework):

- ``processes.free_port()`` / ``processes.wait_for_http(url, ...)`` / ``processes.ManagedProcess``:
  start a command in its own process group with its output in a log file, wait until it answers,
  stop it by PID; ``ManagedProcess.log_tail()`` is shown in failure messages.
- ``mlflow_server.run_mlflow_server(workdir, backend_store_uri=None)``: context manager that starts a real
  ``mlflow server`` (SQLite store under ``workdir`` unless a URI such as a PostgreSQL DSN is given,
  ``--serve-artifacts`` into ``workdir/artifacts``) on a free 127.0.0.1 port, waits for ``/health`` and yields
  an ``MlflowServer`` (``.url``, ``.log_path``).
- ``postgres.run_postgres()``: context manager that starts a throw-away PostgreSQL cluster with Debian's
  ``initdb``/``pg_ctl`` (as the ``postgres`` user when running as root), on a unix socket and a free loopback
  port, and yields a ``PostgresInstance`` (``.dsn``, ``.create_database(name)``); ``pg_ctl stop`` on exit.
- ``pushgateway.run_pushgateway(workdir)``: context manager for a real Prometheus Pushgateway (Debian's
  ``prometheus-pushgateway``) on a free loopback port; yields ``Pushgateway`` (``.url``, ``.metrics_text()``).
- ``training.train_penguins(tracking_uri, algorithms=("logistic_regression",), ...)``: runs the real
  ``mlkube-train penguins`` command with the fast config and returns the ``RegisteredModel`` entries it registered
  (name, version, algorithm, run id, ``models:/`` URI, champion decision). ``training.train_digits(...)`` likewise.
- ``api_server.endpoints(slices)``: the API server's addresses and ports from the ``kubernetes`` Service's
  EndpointSlices, as the platform role reads them; ``api_server.cidr(address)``: one as an ipBlock names it.

Pytest fixtures: import them into your suite's conftest.py (``from tests.support.fixtures import mlflow_server``);
pytest refuses ``pytest_plugins`` in a conftest below the rootdir (tests/) when whole trees are collected.
``tests/pytest.ini`` puts the repository root on sys.path (``pythonpath = ..``) so ``tests.support`` imports.

- ``mlflow_server`` (session): an ``MlflowServer`` backed by SQLite.
- ``postgres`` (session): a ``PostgresInstance``; ``postgres_dsn`` (session): DSN of a fresh database in it.
- ``mlflow_server_postgres`` (session): an ``MlflowServer`` whose backend store is that PostgreSQL database.
- ``pushgateway`` (session): a ``Pushgateway``.
- ``penguins_models`` (session): models registered by ``train_penguins`` into ``mlflow_server``
  (logistic regression and random forest).
"""
