#!/usr/bin/env bash
# Run HERE (the CPU machine), once per fresh checkout, before a GPU call: packs what the GPU host
# lacks into two git-ignored folders that the device call carries.
#   .whl/       keras and the two packages it needs that the GPU image lacks (Python 3.12 wheels)
#   .gpu-data/  FER2013 train and val (PublicTest) as .tar.xz, which Python unpacks without zstd
# Then: training/gpu/slim.sh (the big tracked model files out of the tree), device run, command
# "bash training/gpu/train.sh", carry [".whl", ".gpu-data"], timeout 600; training/gpu/slim.sh restore.
# The tracked tree travels too: the slim tree + carried must stay under 64 MiB (this prints the total).
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${EMOTION_LENS_SHARED:-../shared}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
grep -qx '/.gpu-data/' .git/info/exclude 2>/dev/null || echo '/.gpu-data/' >> .git/info/exclude
py=${PYTHON:-python3}
keras_version=$(.venv/bin/python -c "import keras; print(keras.__version__)" 2>/dev/null || echo 3.15.1)
rm -rf .whl && mkdir -p .whl
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
for pkg in "keras==$keras_version" namex optree; do
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${plat[@]}" -d .whl "$pkg"
done
mkdir -p .gpu-data
for split in train val; do
  src="$shared/datasets/fer2013-$split.tar.zst"
  dst=".gpu-data/fer2013-$split.tar.xz"
  [ -f "$dst" ] && [ "$dst" -nt "$src" ] && continue
  zstd -dc "$src" | xz -0 -T2 > "$dst.tmp" && mv "$dst.tmp" "$dst"
done
all=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
big=$(bash training/gpu/slim.sh list | tr '\n' '\0' | xargs -0 -r du -cb | tail -1 | cut -f1)
tree=$((all - ${big:-0}))  # the tree as slim.sh leaves it
carried=$(du -cb .whl .gpu-data | tail -1 | cut -f1)
echo "tracked tree (slim) $((tree / 1048576)) MiB + carried $((carried / 1048576)) MiB" \
     "= $(((tree + carried) / 1048576)) MiB of 64"
[ $((tree + carried)) -lt $((64 * 1048576)) ] || { echo "error: over the 64 MiB a device call carries" >&2; exit 1; }
