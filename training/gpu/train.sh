#!/usr/bin/env bash
# Runs ON THE GPU HOST (JAX and CUDA, no TensorFlow), from the repository root, after
# training/gpu/prepare.sh here: trains the real-time recipe for the time the call allows, on Keras 3
# with JAX and the NumPy input pipeline, and returns the run under $OUT. Back here:
#   python -m training.export --run <files_at>/run --out runs/gpu-bundle   (export + int8 on the CPU)
# BUDGET_MIN (default 8) is the training time: the cosine schedule anneals over it.
# SMOKE=1 trains on 600 images for one epoch: the same path, run on the CPU to test this script.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-/tmp/gpu-out}
mkdir -p "$out/run"
if [ "${NO_WHEELS:-0}" != 1 ] && ls .whl/*.whl >/dev/null 2>&1; then  # NO_WHEELS=1: a local test
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD"
fi
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
data=../shared/datasets/fer2013   # the path the CPU side's config uses, so that export finds it here
if [ ! -d "$data/train" ] && [ -d .gpu-data ]; then
  mkdir -p "$data"
  python3 - "$data" <<'PY'
import sys, tarfile
from pathlib import Path
for split in ("train", "val"):
    with tarfile.open(Path(".gpu-data") / f"fer2013-{split}.tar.xz") as tar:
        tar.extractall(sys.argv[1], filter="data")
PY
fi
[ -d "$data/train" ] && [ -d "$data/val" ] || { echo "error: no FER2013 at $data (run prepare.sh)" >&2; exit 2; }
run=/tmp/gpu-run
extra=()
if [ "${SMOKE:-0}" = 1 ]; then extra=(--max-samples 600 --epochs 1); fi
python3 -c "import jax; print('jax', jax.__version__, jax.devices())" || true
set +e
python3 -m training.run --config training/configs/realtime.toml --data "$data" --out "$run" \
  --input-pipeline arrays --batch-size 128 --lr 0.0015 --epochs 200 \
  --time-budget-min "${BUDGET_MIN:-8}" --no-export --no-tensorboard "${extra[@]}" 2>&1 | tee "$out/train.log"
rc=${PIPESTATUS[0]}
set -e
for f in config.json train_state.json checkpoint.json best.weights.h5 last.keras metrics.json; do  # 7 files: $OUT takes 8
  [ -f "$run/$f" ] && cp "$run/$f" "$out/run/"
done
exit "$rc"
