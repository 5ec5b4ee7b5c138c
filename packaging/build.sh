#!/usr/bin/env bash
# Build Emotion Lens into a self-contained one-folder bundle: dist/emotion-lens/emotion-lens.
#
#   packaging/build.sh                    # default: int8 LiteRT runtime only, models/default
#   packaging/build.sh --full             # also MediaPipe Tasks (--detector mediapipe/mediapipe-full)
#   packaging/build.sh --gpu              # --full, and Keras/TensorFlow: .keras models, GPU when present
#   packaging/build.sh --model DIR        # ship DIR as the default model bundle
#   packaging/build.sh --dist D --work W  # output folder (default dist/) and build folder (build/)
#   packaging/build.sh --no-check         # skip the post-build check of the bundle
#
# Runs PyInstaller from the project's uv environment (dev group), or from $PYTHON when set
# (a Python with the project and PyInstaller installed). Works on Linux and macOS; on Windows run
# the same `pyinstaller packaging/emotion-lens.spec` line (see the README's "Desktop bundle").
# After the build, the bundle is checked without any Python environment: every runtime
# component loads (EMOTION_LENS_BUNDLE_CHECK=1) and `--version` answers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="$ROOT/dist"
WORK="$ROOT/build"
CHECK=1
SPEC_ARGS=()

while (($#)); do
    case "$1" in
        --full) SPEC_ARGS+=(--full) ;;
        --gpu) SPEC_ARGS+=(--gpu) ;;
        --model) SPEC_ARGS+=(--model "$(cd "$2" && pwd)"); shift ;;
        --dist) DIST="$(mkdir -p "$2" && cd "$2" && pwd)"; shift ;;
        --work) WORK="$(mkdir -p "$2" && cd "$2" && pwd)"; shift ;;
        --no-check) CHECK=0 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

cd "$ROOT"
if [[ -n "${PYTHON:-}" ]]; then
    PYINSTALLER=("$PYTHON" -m PyInstaller)
elif command -v uv >/dev/null 2>&1; then
    PYINSTALLER=(uv run --group dev python -m PyInstaller)
else
    echo "build.sh: needs uv (https://docs.astral.sh/uv/) or PYTHON=/path/to/python" >&2
    exit 2
fi

echo "== building Emotion Lens into $DIST/emotion-lens"
start=$(date +%s)
"${PYINSTALLER[@]}" --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" \
    "$ROOT/packaging/emotion-lens.spec" -- ${SPEC_ARGS[@]+"${SPEC_ARGS[@]}"}
echo "== built in $(( $(date +%s) - start )) s"

APP="$DIST/emotion-lens/emotion-lens"
if [[ "$(uname -s)" == Darwin ]]; then
    [[ -x "$APP" ]] || APP="$DIST/Emotion Lens.app/Contents/MacOS/emotion-lens"
fi
[[ -x "$APP" ]] || { echo "build.sh: $APP was not produced" >&2; exit 1; }

if ((CHECK)); then
    echo "== checking the bundle outside any Python environment"
    env -i PATH=/usr/bin:/bin HOME="$HOME" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen "$APP" --version
    env -i PATH=/usr/bin:/bin HOME="$HOME" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen EMOTION_LENS_BUNDLE_CHECK=1 "$APP"
fi
echo "== $APP"
du -sh "$DIST/emotion-lens"
