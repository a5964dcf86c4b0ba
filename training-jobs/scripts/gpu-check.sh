#!/usr/bin/env bash
# The digits trainer on CUDA and on the CPU, as the GPU training Job runs it, against a throwaway SQLite MLflow:
# run it on a machine with a GPU, PyTorch and the training package importable (PYTHONPATH=training-jobs/src).
# Prints each run's epochs, the ONNX agreement and the registry decisions; logs go to $GPU_CHECK_OUT.
set -uo pipefail
out=${GPU_CHECK_OUT:-$(mktemp -d)}
work=$(mktemp -d)
cd "$work" || exit 1
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "nvidia-smi: no NVIDIA driver here"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.version.cuda)'
if [ -z "${MLKUBE_TRAIN_SIGNING_KEY:-}" ]; then  # a key of this run's own: versions are signed as on the cluster
  MLKUBE_TRAIN_SIGNING_KEY=$(python3 -c '
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
print(Ed25519PrivateKey.generate().private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()).decode())')
  export MLKUBE_TRAIN_SIGNING_KEY
fi

failed=0
train() {  # name, flags...
  local name=$1 started rc
  shift
  echo "=== $name: $*"
  started=$(date +%s%N)
  timeout 300 python3 -m mlkube_train digits --summary-file "$work/$name.json" "$@" >"$out/$name.log" 2>&1
  rc=$?
  echo "exit $rc after $(( ($(date +%s%N) - started) / 1000000 )) ms"
  grep -E "^epoch " "$out/$name.log" | sed -n '1,2p;$p'
  grep -E "can't be loaded|onnx export|^registered" "$out/$name.log"
  [ "$rc" = 0 ] || failed=1
}
wide=(--channels 64 --hidden 512 --epochs 20 --batch-size 256)
train cuda --device cuda
train cpu --device cpu
train cuda-wide --device cuda "${wide[@]}"
train cpu-wide --device cpu "${wide[@]}"
python3 - "$work" <<'PY'
import json, sys
from pathlib import Path

print(f"{'run':<10} {'first epoch s':>13} {'steady epoch s':>14} {'test acc':>8} decision")
for name in ("cuda", "cpu", "cuda-wide", "cpu-wide"):
    path = Path(sys.argv[1]) / f"{name}.json"
    if not path.exists():
        print(f"{name:<10} (no summary)")
        continue
    (model,) = json.loads(path.read_text())["models"]
    m = model["metrics"]
    print(f"{name:<10} {m['first_epoch_seconds']:>13.3f} {m['steady_epoch_seconds_mean']:>14.4f} "
          f"{m['test_accuracy']:>8.4f} {model['promotion']['decision']}")
PY
echo "logs: $out"
exit "$failed"
