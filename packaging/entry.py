"""Entry point of the frozen app (PyInstaller): `emotion-lens [...]`, same as `uv run emotion-lens`.

With EMOTION_LENS_BUNDLE_CHECK=1 it instead checks that the bundle holds every runtime component
(face detector models and MediaPipe's native library, LiteRT, OpenCV's cascades, SciPy's assignment,
FFmpeg, Qt), prints one line per component and exits 0 when all are there. It is how
`packaging/build.sh` and the packaging tests catch a component a build left out.
"""

from __future__ import annotations

import multiprocessing
import os
import sys


def bundle_check() -> int:
    checks = []

    def check(name, fn):
        try:
            detail = fn()
            checks.append((name, True, detail))
        except Exception as exc:
            checks.append((name, False, f"{type(exc).__name__}: {exc}"))

    def mediapipe():
        from app.core.detect import MediaPipeFaceDetector

        for variant in ("short", "full"):
            MediaPipeFaceDetector(variant=variant).close()
        return "BlazeFace short and full range"

    def litert():
        from app.core.bundle import DEFAULT_MODEL_DIR
        from app.core.classify import Classifier

        c = Classifier(None)
        return f"{c.description} from {DEFAULT_MODEL_DIR}"

    def opencv():
        from app.core.detect import OpenCVFaceDetector

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
        heavy = sorted(m for m in ("tensorflow", "keras", "tf_keras", "matplotlib", "torch", "jax")
                       if m in sys.modules)
        if heavy:
            raise RuntimeError(f"imported: {', '.join(heavy)}")
        return "not loaded"

    for name, fn in (("mediapipe", mediapipe), ("litert", litert), ("opencv", opencv),
                     ("scipy", scipy), ("ffmpeg", ffmpeg), ("qt", qt), ("tensorflow", no_tensorflow)):
        check(name, fn)
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def main() -> int:
    multiprocessing.freeze_support()
    if os.environ.get("EMOTION_LENS_BUNDLE_CHECK") == "1":
        return bundle_check()
    from app.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
