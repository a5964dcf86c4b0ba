"""``mlkube-rollout-trigger``: MLflow's @challenger starts the Argo Rollout of the release (see __init__).

``mlkube-rollout-trigger register-webhook`` only creates or updates the MLflow webhook and exits: MLflow's
webhook API is admin-only, so the chart runs it as an init container with the admin's credentials, and the
receiver itself runs with the rollout user's (aliases and tags, nothing more).
"""

from __future__ import annotations

import asyncio
import logging
import sys

import uvicorn
from pydantic import ValidationError

from ..logging_setup import configure_logging
from .app import create_app
from .errors import TriggerError
from .kube import Kube, connect, in_cluster_namespace
from .registry import Registry
from .service import Trigger
from .settings import ENV_PREFIX, TriggerSettings

log = logging.getLogger("mlkube_server.trigger")


def main() -> int:
    register_only = sys.argv[1:] == ["register-webhook"]
    if sys.argv[1:] and not register_only:
        print(f"mlkube-rollout-trigger: unknown arguments {sys.argv[1:]} (only: register-webhook)", file=sys.stderr)
        return 2
    try:
        settings = TriggerSettings()  # required fields come from the environment
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            print(f"mlkube-rollout-trigger: {ENV_PREFIX}{field.upper()}: {error['msg']}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        namespace = settings.namespace or in_cluster_namespace()
        if not namespace:
            raise TriggerError(f"set {ENV_PREFIX}NAMESPACE (not in a pod)")
        kube = Kube(connect(settings.kubeconfig), namespace)
    except TriggerError as exc:
        print(f"mlkube-rollout-trigger: {exc}", file=sys.stderr)
        return 2
    trigger = Trigger(kube, Registry(settings.tracking_uri), settings.rollout, settings.settle_seconds,
                      settings.max_settle_seconds)  # fmt: skip
    if register_only:
        secret = settings.webhook_secret.get_secret_value()
        asyncio.run(trigger.register_webhook_forever(settings.hook_name, settings.webhook_url, secret))
        return 0
    app = create_app(settings, trigger)
    log.info("mlkube-rollout-trigger for rollout %s/%s on %s:%d", namespace, settings.rollout, settings.host,
             settings.port)  # fmt: skip
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
