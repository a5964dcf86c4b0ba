#!/usr/bin/env python3
"""Host-side volume provisioner for the local cluster's `standard` StorageClass.

Every few seconds it lists PersistentVolumeClaims and PersistentVolumes and:
  * for a pending claim of a StorageClass served by this provisioner, creates a directory under
    --volumes-dir and a hostPath PersistentVolume pre-bound to the claim (the PV controller then
    binds both sides);
  * for a Released volume it provisioned whose reclaim policy is Delete, removes the directory
    and the PersistentVolume.

Only the standard library: it runs with the machine's python3, next to the other components.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"

log = logging.getLogger("hostpath-provisioner")


@dataclass(frozen=True)
class Settings:
    server: str
    ca: Path
    cert: Path
    key: Path
    volumes_dir: Path
    provisioner: str
    interval: float


class ApiClient:
    """The few Kubernetes API calls the provisioner needs, over mutual TLS."""

    def __init__(self, settings: Settings) -> None:
        self._server = settings.server.rstrip("/")
        self._context = ssl.create_default_context(cafile=str(settings.ca))
        self._context.load_cert_chain(str(settings.cert), str(settings.key))

    def request(self, method: str, path: str, body: dict | None = None) -> dict:
        # self._server is the API server's https URL from the kubeconfig (S310: no file: or custom scheme).
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self._server + path, data=data, method=method)  # noqa: S310
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, context=self._context, timeout=10) as response:  # noqa: S310
            return json.load(response)

    def items(self, path: str) -> list[dict]:
        return self.request("GET", path).get("items", [])


def volume_name(claim: dict) -> str:
    return f"pvc-{claim['metadata']['uid']}"


def served_classes(classes: list[dict], provisioner: str) -> tuple[set[str], str | None]:
    """Names of the StorageClasses this provisioner serves, and the default class if it is one."""
    names: set[str] = set()
    default: str | None = None
    for storage_class in classes:
        if storage_class.get("provisioner") != provisioner:
            continue
        name = storage_class["metadata"]["name"]
        names.add(name)
        if storage_class["metadata"].get("annotations", {}).get(DEFAULT_CLASS) == "true":
            default = name
    return names, default


def wants_volume(claim: dict, classes: set[str], default: str | None, provisioner: str) -> bool:
    if claim.get("status", {}).get("phase") != "Pending" or claim["spec"].get("volumeName"):
        return False
    annotations = claim["metadata"].get("annotations", {})
    if provisioner in (annotations.get(STORAGE_PROVISIONER), annotations.get(BETA_STORAGE_PROVISIONER)):
        return True
    class_name = claim["spec"].get("storageClassName", default)
    return class_name in classes


def persistent_volume(claim: dict, path: Path, provisioner: str, reclaim_policy: str) -> dict:
    spec = claim["spec"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": volume_name(claim), "annotations": {PROVISIONED_BY: provisioner}},
        "spec": {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "accessModes": spec.get("accessModes", ["ReadWriteOnce"]),
            "persistentVolumeReclaimPolicy": reclaim_policy,
            "storageClassName": spec.get("storageClassName", ""),
            "volumeMode": spec.get("volumeMode", "Filesystem"),
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": claim["metadata"]["namespace"],
                "name": claim["metadata"]["name"],
                "uid": claim["metadata"]["uid"],
            },
            "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
        },
    }


class Provisioner:
    def __init__(self, settings: Settings, api: ApiClient) -> None:
        self.settings = settings
        self.api = api

    def sync(self) -> None:
        classes = self.api.items("/apis/storage.k8s.io/v1/storageclasses")
        names, default = served_classes(classes, self.settings.provisioner)
        policies = {c["metadata"]["name"]: c.get("reclaimPolicy", "Delete") for c in classes}
        for claim in self.api.items("/api/v1/persistentvolumeclaims"):
            if wants_volume(claim, names, default, self.settings.provisioner):
                self.provision(claim, policies.get(claim["spec"].get("storageClassName", default), "Delete"))
        for volume in self.api.items("/api/v1/persistentvolumes"):
            self.maybe_delete(volume)

    def provision(self, claim: dict, reclaim_policy: str) -> None:
        meta = claim["metadata"]
        path = self.settings.volumes_dir / f"{meta['namespace']}-{meta['name']}-{meta['uid']}"
        path.mkdir(parents=True, exist_ok=True)
        # Pods run as arbitrary non-root users under the restricted Pod Security level.
        path.chmod(0o777)
        body = persistent_volume(claim, path, self.settings.provisioner, reclaim_policy)
        try:
            self.api.request("POST", "/api/v1/persistentvolumes", body)
        except urllib.error.HTTPError as error:
            if error.code != 409:  # 409: created by an earlier pass, the PV controller binds it
                raise
            return
        log.info("provisioned %s for %s/%s at %s", volume_name(claim), meta["namespace"], meta["name"], path)

    def maybe_delete(self, volume: dict) -> None:
        meta, spec = volume["metadata"], volume["spec"]
        if meta.get("annotations", {}).get(PROVISIONED_BY) != self.settings.provisioner:
            return
        if volume.get("status", {}).get("phase") != "Released":
            return
        if spec.get("persistentVolumeReclaimPolicy") != "Delete":
            return
        path = Path(spec["hostPath"]["path"])
        if path.parent == self.settings.volumes_dir:
            shutil.rmtree(path, ignore_errors=True)
        try:
            self.api.request("DELETE", f"/api/v1/persistentvolumes/{meta['name']}")
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
        log.info("deleted released volume %s", meta["name"])


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", required=True, type=Path)
    parser.add_argument("--cert", required=True, type=Path)
    parser.add_argument("--key", required=True, type=Path)
    parser.add_argument("--volumes-dir", required=True, type=Path)
    parser.add_argument("--provisioner", required=True)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args(argv)
    return Settings(
        args.server, args.ca, args.cert, args.key, args.volumes_dir.resolve(), args.provisioner, args.interval
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = parse_args(argv)
    api = ApiClient(settings)
    provisioner = Provisioner(settings, api)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("serving provisioner %s, volumes under %s", settings.provisioner, settings.volumes_dir)
    while True:
        try:
            provisioner.sync()
        except (urllib.error.URLError, OSError, KeyError) as error:
            log.warning("sync failed, retrying: %s", error)
        time.sleep(settings.interval)


if __name__ == "__main__":
    sys.exit(main())
