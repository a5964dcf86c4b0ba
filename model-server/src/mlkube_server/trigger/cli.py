"""``mlkube-rollout-trigger``: MLflow's @challenger starts the Argo Rollout of the release (see __init__)."""

from __future__ import annotations

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
    app = create_app(settings, trigger)
    log.info("mlkube-rollout-trigger for rollout %s/%s on %s:%d", namespace, settings.rollout, settings.host,
             settings.port)  # fmt: skip
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
