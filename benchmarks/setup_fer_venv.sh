#!/usr/bin/env bash
# A throwaway environment with the `fer` package, for the side-by-side reference in benchmarks/.
# Not the project's environment: fer needs TensorFlow and pins we don't want. Its own wheel ships
# the Haar cascade and the mini-XCEPTION weights, so nothing is downloaded at run time. MTCNN
# (facenet-pytorch) and moviepy are left out: the default FER() uses neither. OpenCV stays below 5:
# its wheels lack CascadeClassifier's Haar files, which FER() needs.
#   bash benchmarks/setup_fer_venv.sh [/tmp/fervenv]
set -euo pipefail
venv=${1:-/tmp/fervenv}
uv venv -q --clear "$venv" -p 3.11
uv pip install -q -p "$venv/bin/python" --no-deps "fer==25.10.3"
uv pip install -q -p "$venv/bin/python" "tensorflow>=2.20,<2.22" "opencv-python-headless>=4.10,<5" numpy \
    pandas tqdm pillow requests "setuptools<81"
"$venv/bin/python" -c "from fer.fer import FER" 2>/dev/null && echo "fer ready: $venv/bin/python"
