"""The MLflow server's users, applied from the environment before it starts (the mlflow chart's init container).

MLflow's basic-auth app creates only its admin, and only on first start; every other user is an API call away
from a person. This makes the platform's users a declaration instead: each start (re)creates them with the
passwords of the chart's Secret, so a rotated Secret takes effect on the next restart and a restored database
gets the passwords of the install it is restored into. It writes the users into the auth tables directly (the
same store and migrations as the server, in the same image), so nothing has to wait for the server to answer.

Least privilege, on top of the server's default permission (READ for every authenticated user):
- trainer: EDIT on every experiment and registered model (log runs, register versions, move @champion after
  its champion rule); the creator of a model gets MANAGE on it anyway.
- rollout: EDIT on every registered model (set @champion and the outcome tags after a rollout).
- server: nothing more than the default, so it can read and download, never move an alias.

Environment: MLKUBE_AUTH_DATABASE_URI, MLKUBE_AUTH_CONFIG_PATH (the ini the server reads, written here),
MLKUBE_AUTH_DEFAULT_PERMISSION, MLKUBE_AUTH_CACHE_SECONDS (MLflow's credential cache: 0, MLflow's default, checks
the password hash on every call), and MLKUBE_AUTH_<ROLE>_USERNAME / _PASSWORD for ADMIN, TRAINER, ROLLOUT, SERVER.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROLES = ("admin", "trainer", "rollout", "server")
# (resource type, pattern, permission) each role gets beyond the default permission.
GRANTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "trainer": (("experiment", "*", "EDIT"), ("registered_model", "*", "EDIT")),
    "rollout": (("registered_model", "*", "EDIT"),),
    "server": (),
}
PERMISSIONS = ("READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS")


class UsersError(Exception):
    """A setting is missing or wrong: one line for the pod's log, and the init container fails."""


@dataclass(frozen=True)
class User:
    role: str
    username: str
    password: str


@dataclass(frozen=True)
class AuthSetup:
    database_uri: str
    config_path: Path
    default_permission: str
    users: tuple[User, ...]
    cache_seconds: int = 0

    @property
    def admin(self) -> User:
        return next(user for user in self.users if user.role == "admin")


def setup_from(env: Mapping[str, str]) -> AuthSetup:
    def need(name: str) -> str:
        value = env.get(name, "")
        if not value:
            raise UsersError(f"{name} is not set")
        return value

    users = tuple(
        User(role, need(f"MLKUBE_AUTH_{role.upper()}_USERNAME"), need(f"MLKUBE_AUTH_{role.upper()}_PASSWORD"))
        for role in ROLES
    )
    names = [user.username for user in users]
    if len(set(names)) != len(names):
        raise UsersError(f"the users' names must differ: {names}")
    for user in users:
        if len(user.password) < 12:
            raise UsersError(f"MLKUBE_AUTH_{user.role.upper()}_PASSWORD: at least 12 characters")
    permission = env.get("MLKUBE_AUTH_DEFAULT_PERMISSION", "READ")
    if permission not in PERMISSIONS:
        raise UsersError(f"MLKUBE_AUTH_DEFAULT_PERMISSION: {permission!r} is not one of {', '.join(PERMISSIONS)}")
    cache = env.get("MLKUBE_AUTH_CACHE_SECONDS", "0")
    if not (cache.isascii() and cache.isdigit()):
        raise UsersError(f"MLKUBE_AUTH_CACHE_SECONDS: {cache!r} is not a whole number of seconds (0: no cache)")
    return AuthSetup(
        need("MLKUBE_AUTH_DATABASE_URI"), Path(need("MLKUBE_AUTH_CONFIG_PATH")), permission, users, int(cache)
    )


def write_config(setup: AuthSetup) -> None:
    """The server's basic_auth.ini: it holds the database URI (and so its password), readable by this user only.

    The credential cache spares each call the password hash check (scrypt, ~0.1 s of CPU): a model server's start
    makes about 20 calls per model. The platform's users change their passwords only through this script, on a
    restart, which empties the cache; a replica still running beside a restarted one accepts an old password for
    at most that many seconds, as does every worker but the one that served a change made through MLflow's API."""
    setup.config_path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "[mlflow]\n"
        f"default_permission = {setup.default_permission}\n"
        f"database_uri = {setup.database_uri.replace('%', '%%')}\n"
        f"admin_username = {setup.admin.username}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        f"auth_cache_ttl_seconds = {setup.cache_seconds}\n"
    )
    descriptor = os.open(setup.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


def apply_users(setup: AuthSetup) -> list[str]:
    """Create or update every user and its grants; returns one line per user."""
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(setup.database_uri)  # runs the auth tables' migrations, as the server would
    lines = []
    for user in setup.users:
        admin = user.role == "admin"
        action = "updated"
        if not store.has_user(user.username, use_primary=True):
            try:
                store.create_user(user.username, user.password, is_admin=admin)
                action = "created"
            except MlflowException as exc:  # another replica's init container created it first
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        if action == "updated":
            store.update_user(user.username, password=user.password, is_admin=admin)
        for resource_type, pattern, permission in GRANTS.get(user.role, ()):
            store.grant_user_permission(user.username, resource_type, pattern, permission)
        grants = ", ".join(f"{p} on {t} {s}" for t, s, p in GRANTS.get(user.role, ())) or (
            "admin" if admin else f"{setup.default_permission} (the default)"
        )
        lines.append(f"{user.role} user {user.username!r} {action}: {grants}")
    return lines


def main() -> int:
    try:
        setup = setup_from(os.environ)
        write_config(setup)
        for line in apply_users(setup):
            print(f"mlflow-users: {line}", flush=True)
    except UsersError as exc:
        print(f"mlflow-users: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
