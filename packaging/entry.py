"""Entry point of the frozen app (PyInstaller): `emotion-lens [...]`, same as `uv run emotion-lens`.

With EMOTION_LENS_BUNDLE_CHECK=1 it instead checks that the bundle holds every runtime component
(LiteRT with the classifier and BlazeFace, OpenCV's cascades, SciPy's assignment, FFmpeg, Qt, and
in the --full variant MediaPipe Tasks and what `report` needs) and that what its variant leaves
out is out, prints one line per component and exits 0 when all is as it should be. It is
how `packaging/build.sh` and the packaging tests catch a component a build left out.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import sys
from pathlib import Path


def bundle_info() -> dict:
    """bundle.json, written by packaging/emotion-lens.spec: the variant and what it holds."""
    path = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent), "bundle.json")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {"variant": "unknown", "mediapipe": True, "report": True}


def bundle_check() -> int:
    info = bundle_info()
    checks = []

    def check(name, fn):
        try:
            detail = fn()
            checks.append((name, True, detail))
        except Exception as exc:
            checks.append((name, False, f"{type(exc).__name__}: {exc}"))

    def mediapipe():
        if not info.get("mediapipe"):
            if importlib.util.find_spec("mediapipe") is not None:
                raise RuntimeError(f"the {info['variant']} bundle should leave MediaPipe out")
            return f"left out of the {info['variant']} bundle (packaging/build.sh --full has it)"
        from app.core.mediapipe_detector import MediaPipeFaceDetector

        for variant in ("short", "full"):
            MediaPipeFaceDetector(variant=variant).close()
        return "BlazeFace short and full range"

    def litert():
        import numpy as np

        from app.core.blazeface import BlazeFaceDetector
        from app.core.bundle import DEFAULT_MODEL_DIR
        from app.core.classify import Classifier

        c = Classifier(None)
        for variant in ("short", "full"):
            with BlazeFaceDetector(variant=variant) as detector:
                detector.detect(np.zeros((128, 128, 3), dtype=np.uint8))
        return f"{c.description} from {DEFAULT_MODEL_DIR}; BlazeFace short and full range"

    def opencv():
        from app.core.opencv_detector import OpenCVFaceDetector

        OpenCVFaceDetector()
        return "Haar cascades"

    def scipy():
        import numpy as np
        from scipy.optimize import linear_sum_assignment

        rows, _ = linear_sum_assignment(np.eye(3))
        return f"linear_sum_assignment ({len(rows)} rows)"

    def ffmpeg():
        from app.core.video_writer import ffmpeg_exe

        exe = ffmpeg_exe()
        if not exe or not os.access(exe, os.X_OK):
            raise RuntimeError(f"no executable ffmpeg ({exe})")
        return exe

    def qt():
        from PySide6.QtCore import QLibraryInfo
        from PySide6.QtGui import QGuiApplication

        app = QGuiApplication.instance() or QGuiApplication(["emotion-lens", "-platform", "offscreen"])
        return f"Qt {QLibraryInfo.version().toString()} ({app.platformName()})"

    def no_tensorflow():
        heavy = sorted(m for m in ("tensorflow", "keras", "tf_keras", "matplotlib", "pandas", "torch", "jax",
                                   "ray") if m in sys.modules)
        if heavy:
            raise RuntimeError(f"imported: {', '.join(heavy)}")
        return "not loaded"

    def report():
        """What `report` and `batch` import: pandas, matplotlib's Agg, jinja2 and the template."""
        if not info.get("report"):
            present = [m for m in ("pandas", "matplotlib", "jinja2") if importlib.util.find_spec(m)]
            if present:
                raise RuntimeError(f"the {info['variant']} bundle should leave {', '.join(present)} out")
            return f"left out of the {info['variant']} bundle (packaging/build.sh --full has it)"
        import io

        import jinja2
        import numpy as np
        import pandas as pd

        from app.services import report as report_module
        from app.services.report_plots import faces_per_frame

        table = pd.read_csv(io.StringIO("frame,face_id\n0,1\n1,1\n"))
        png = faces_per_frame(np.arange(3.0), np.array([1, 0, 1]), [(1.0, 2.0)], "frame")
        jinja2.Environment().parse((report_module.TEMPLATES / report_module.TEMPLATE).read_text())
        return (f"pandas {pd.__version__} ({len(table)} rows), matplotlib Agg ({len(png)} bytes), "
                f"jinja2 {jinja2.__version__}, {report_module.TEMPLATE}")

    for name, fn in (("mediapipe", mediapipe), ("litert", litert), ("opencv", opencv),
                     ("scipy", scipy), ("ffmpeg", ffmpeg), ("qt", qt), ("tensorflow", no_tensorflow),
                     ("report", report)):
        check(name, fn)
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    print(f"bundle: {info['variant']}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def main() -> int:
    multiprocessing.freeze_support()
    if os.environ.get("EMOTION_LENS_BUNDLE_CHECK") == "1":
        return bundle_check()
    from app.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
