"""The int8 path never imports TensorFlow (a 10 s start-up cost): checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

FIRST_FRAME = '''
import json, sys
from app.core.pipeline import Pipeline
from app.core.render import draw_overlay
from app.core.sources import open_source
source = open_source(sys.argv[1])
with Pipeline(model=sys.argv[2]) as pipeline:
    frame = next(iter(source))
    result = pipeline.process(frame)
    draw_overlay(frame.image, result, pipeline.labels)
    backend = pipeline.classifier.backend
source.close()
heavy = sorted(m for m in ("tensorflow", "keras", "tf_keras", "torch") if m in sys.modules)
print(json.dumps({"backend": backend, "faces": len(result.faces), "heavy": heavy}))
'''


def test_int8_path_does_not_import_tensorflow(media: Path, int8_bundle: Path) -> None:
    done = subprocess.run([sys.executable, "-c", FIRST_FRAME, str(media / "street_phone.mp4"),
                           str(int8_bundle)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["backend"] == "int8"
    assert out["faces"] == 1
    assert out["heavy"] == [], f"the int8 path imported {out['heavy']}"
