#!/usr/bin/env python3
"""Pack static files into a one-layer OCI image archive that `ctr images import` understands.

No Docker needed: the layer is a plain tar, the config and manifest are JSON, and the full image
name travels in the `io.containerd.image.name` annotation of index.json.

    oci_image.py --name mlkube/pause:0.1.0 --file build/pause:/pause --entrypoint /pause \
        --user 65535:65535 --out pause.tar
    oci_image.py --normalise mlkube/pause:0.1.0     # prints docker.io/mlkube/pause:0.1.0
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class ImageSpec:
    name: str
    files: list[tuple[Path, str, int]]
    entrypoint: list[str]
    cmd: list[str] = field(default_factory=list)
    user: str = ""
    env: list[str] = field(default_factory=list)
    workdir: str = ""
    ports: list[str] = field(default_factory=list)
    directories: list[tuple[str, int]] = field(default_factory=list)


def full_name(name: str) -> str:
    """Normalise like Docker and containerd do: `mlkube/x:1` -> `docker.io/mlkube/x:1`."""
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def _add_dir(tar: tarfile.TarFile, path: str, mode: int) -> None:
    info = tarfile.TarInfo(path.strip("/"))
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
    tar.addfile(info)


def build_layer(spec: ImageSpec) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()
        for path, mode in spec.directories:
            _add_dir(tar, path, mode)
            made.add(path.strip("/"))
        for source, dest, mode in spec.files:
            parts = dest.strip("/").split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                parent = "/".join(parts[:depth])
                if parent not in made:
                    _add_dir(tar, parent, 0o755)
                    made.add(parent)
            data = source.read_bytes()
            info = tarfile.TarInfo(dest.strip("/"))
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _blob(tar: tarfile.TarFile, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}"


def write_archive(spec: ImageSpec, out: Path) -> None:
    layer = build_layer(spec)
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    container_config: dict[str, object] = {"Entrypoint": spec.entrypoint}
    if spec.cmd:
        container_config["Cmd"] = spec.cmd
    if spec.user:
        container_config["User"] = spec.user
    if spec.env:
        container_config["Env"] = spec.env
    if spec.workdir:
        container_config["WorkingDir"] = spec.workdir
    if spec.ports:
        container_config["ExposedPorts"] = {p if "/" in p else f"{p}/tcp": {} for p in spec.ports}
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": container_config,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created_by": "mlkube oci_image.py"}],
        },
        sort_keys=True,
    ).encode()

    name = full_name(spec.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, mode="w") as tar:
        config_digest = _blob(tar, config)
        layer_digest_written = _blob(tar, layer)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_MEDIA_TYPE,
                "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer_digest_written, "size": len(layer)}],
            },
            sort_keys=True,
        ).encode()
        manifest_digest = _blob(tar, manifest)
        index = json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": MANIFEST_MEDIA_TYPE,
                        "digest": manifest_digest,
                        "size": len(manifest),
                        "platform": {"architecture": "amd64", "os": "linux"},
                        "annotations": {
                            "io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1],
                        },
                    }
                ],
            }
        ).encode()
        for member, data in (("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", index)):
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))


def parse_file(value: str) -> tuple[Path, str, int]:
    parts = value.split(":")
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(f"expected SOURCE:DEST[:MODE], got {value!r}")
    source = Path(parts[0])
    if not source.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {source}")
    mode = int(parts[2], 8) if len(parts) == 3 else 0o755
    return source, parts[1], mode


def parse_dir(value: str) -> tuple[str, int]:
    path, _, mode = value.partition(":")
    return path, int(mode or "755", 8)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "--normalise":
        print(full_name(argv[1]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="image name, e.g. mlkube/pause:0.1.0")
    parser.add_argument("--out", required=True, type=Path, help="OCI archive to write")
    parser.add_argument("--file", action="append", type=parse_file, default=[], help="SOURCE:DEST[:MODE]")
    parser.add_argument("--dir", action="append", type=parse_dir, default=[], help="DEST[:MODE] empty directory")
    parser.add_argument("--entrypoint", action="append", required=True, help="repeat for each argument")
    parser.add_argument("--cmd", action="append", default=[])
    parser.add_argument("--user", default="")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--workdir", default="")
    parser.add_argument("--port", action="append", default=[])
    args = parser.parse_args(argv)
    spec = ImageSpec(
        name=args.name,
        files=args.file,
        entrypoint=args.entrypoint,
        cmd=args.cmd,
        user=args.user,
        env=args.env,
        workdir=args.workdir,
        ports=args.port,
        directories=args.dir,
    )
    write_archive(spec, args.out)
    print(f"wrote {args.out} ({full_name(spec.name)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
