"""The Kubernetes API over httpx: in the pod with its ServiceAccount token, outside with a kubeconfig."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from .errors import KubeError

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
FIELD_MANAGER = "mlkube-rollout-trigger"
ROLLOUTS = "/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/{name}"
ANALYSIS_RUNS = "/apis/argoproj.io/v1alpha1/namespaces/{namespace}/analysisruns/{name}"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


@dataclass
class Connection:
    server: str
    verify: ssl.SSLContext | bool
    token_file: Path | None = None  # re-read on every request: projected tokens rotate
    token: str | None = None

    def headers(self) -> dict[str, str]:
        token = self.token_file.read_text().strip() if self.token_file else self.token
        return {"Authorization": f"Bearer {token}"} if token else {}


def in_cluster_namespace() -> str | None:
    path = SERVICE_ACCOUNT / "namespace"
    return path.read_text().strip() if path.is_file() else None


def connect(kubeconfig: Path | None) -> Connection:
    """A kubeconfig's current context when given, else the pod's ServiceAccount."""
    if kubeconfig is not None:
        return _from_kubeconfig(kubeconfig)
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not (SERVICE_ACCOUNT / "token").is_file() or not (SERVICE_ACCOUNT / "ca.crt").is_file():
        raise KubeError("not in a pod (no KUBERNETES_SERVICE_HOST or ServiceAccount token and CA); pass a kubeconfig")
    context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return Connection(server, context, token_file=SERVICE_ACCOUNT / "token")


def _read(config_dir: Path, item: dict, key: str) -> bytes | None:
    """``<key>-data`` (base64) or ``<key>`` (a path, relative to the kubeconfig's directory) of a kubeconfig entry."""
    if item.get(f"{key}-data"):
        return base64.b64decode(item[f"{key}-data"])
    if item.get(key):
        return (config_dir / item[key]).read_bytes()
    return None


def _from_kubeconfig(path: Path) -> Connection:
    try:
        return _kubeconfig_connection(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError, ssl.SSLError) as exc:
        detail = f"no entry {exc}" if isinstance(exc, KeyError) else f"{type(exc).__name__}: {exc}"
        raise KubeError(f"kubeconfig {path}: {detail}") from None


def _kubeconfig_connection(path: Path) -> Connection:
    config = yaml.safe_load(path.read_text())
    by_name = lambda kind: {item["name"]: item[kind] for item in config.get(kind + "s") or []}  # noqa: E731
    context = by_name("context")[config["current-context"]]
    cluster = by_name("cluster")[context["cluster"]]
    user = (by_name("user")[context["user"]] or {}) if context.get("user") else {}
    for unsupported in ("exec", "auth-provider", "username"):
        if unsupported in user:
            raise ValueError(
                f"user {context['user']!r} authenticates by {unsupported}; use a token or client certificate"
            )
    here = path.parent
    if cluster.get("insecure-skip-tls-verify"):
        raise ValueError("insecure-skip-tls-verify is not supported; give the cluster's certificate-authority")
    ca = _read(here, cluster, "certificate-authority")
    ssl_context = ssl.create_default_context(cadata=ca.decode()) if ca else ssl.create_default_context()
    cert, key = _read(here, user, "client-certificate"), _read(here, user, "client-key")
    if cert and key:
        # load_cert_chain reads files only: hand it a private directory and remove it at once.
        with tempfile.TemporaryDirectory(prefix="mlkube-kubeconfig-") as files:
            cert_file, key_file = Path(files) / "client.crt", Path(files) / "client.key"
            cert_file.write_bytes(cert)
            key_file.write_bytes(key)
            ssl_context.load_cert_chain(cert_file, key_file)
    elif cert or key:
        raise ValueError(f"user {context['user']!r} has a client certificate or key but not both")
    token_file = here / user["tokenFile"] if user.get("tokenFile") else None
    return Connection(cluster["server"], ssl_context, token_file=token_file, token=user.get("token"))


class Kube:
    """The few calls the trigger makes: read a Rollout, JSON-patch it, read an AnalysisRun and the Deployment a
    Rollout takes over from."""

    def __init__(self, connection: Connection, namespace: str, timeout: float = 10.0) -> None:
        self.namespace = namespace
        self._connection = connection
        self._http = httpx.Client(base_url=connection.server, verify=connection.verify, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> dict:
        headers = {**self._connection.headers(), **kwargs.pop("headers", {})}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise KubeError(f"Kubernetes API unreachable ({type(exc).__name__}: {exc})") from None
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise KubeError(f"{method} {path}: HTTP {response.status_code}: {message}"[:500], response.status_code)
        return response.json()

    def get_rollout(self, name: str) -> dict:
        return self._call("GET", ROLLOUTS.format(namespace=self.namespace, name=name))

    def patch_rollout(self, name: str, ops: list[dict]) -> dict:
        """RFC 6902 JSON Patch (custom resources take no strategic merge patch, and a merge patch would replace
        whole container and env lists)."""
        return self._call(
            "PATCH",
            ROLLOUTS.format(namespace=self.namespace, name=name),
            params={"fieldManager": FIELD_MANAGER},
            json=ops,
            headers={"Content-Type": "application/json-patch+json"},
        )

    def get_analysis_run(self, name: str) -> dict:
        return self._call("GET", ANALYSIS_RUNS.format(namespace=self.namespace, name=name))

    def get_deployment(self, name: str) -> dict:
        return self._call("GET", DEPLOYMENTS.format(namespace=self.namespace, name=name))
