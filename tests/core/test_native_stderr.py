"""Silencing native stderr while a model loads must never swallow a Python message printed by
another thread meanwhile (the smoke-mode `error:` line raced a worker loading the model)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import ROOT

SCRIPT = textwrap.dedent("""
    import os, sys, threading, time
    from app.core.native import quiet_native_stderr

    inside, release = threading.Event(), threading.Event()

    def load_model():  # a worker thread silencing what native code prints while it loads
        with quiet_native_stderr():
            os.write(2, b"INFO: native noise\\n")
            inside.set()
            release.wait(10)
            os.write(2, b"INFO: more native noise\\n")

    worker = threading.Thread(target=load_model)
    worker.start()
    inside.wait(10)
    print("error: the source cannot be opened", file=sys.stderr)  # the main thread, meanwhile
    release.set()
    worker.join()
    print("after", file=sys.stderr)
    os.write(2, b"native after\\n")
""")


def test_python_stderr_survives_a_native_silencing_in_another_thread() -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines == ["error: the source cannot be opened", "after", "native after"]


OVERLAP = textwrap.dedent("""
    import os, threading
    from app.core.native import quiet_native_stderr

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def a():  # enters first and leaves first
        with quiet_native_stderr():
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def b():  # enters second and leaves last: descriptor 2 must come back all the same
        a_in.wait(10)
        with quiet_native_stderr():
            b_in.set()
            a_out.wait(10)
            os.write(2, b"INFO: native noise while b is inside\\n")

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    os.write(2, b"native after\\n")
""")


def test_overlapping_silencings_in_two_threads_give_descriptor_2_back() -> None:
    proc = subprocess.run([sys.executable, "-c", OVERLAP], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["native after"]


DETECT = textwrap.dedent("""
    import sys, cv2
    from app.core.mediapipe_detector import MediaPipeFaceDetector
    image = cv2.imread(sys.argv[1])
    for _ in range(3):
        with MediaPipeFaceDetector() as detector:
            for scale in (1.0, 0.5, 0.75):
                assert len(detector.detect(cv2.resize(image, None, fx=scale, fy=scale))) == 2
    print("done")
""")


def test_mediapipe_detection_prints_nothing_on_stderr(media) -> None:
    """LiteRT in MediaPipe warned 'Input tensor memory is not aligned' in about one process of
    six, on a detect() call; the same 9 detections in 3 processes now print nothing."""
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", DETECT, str(media / "two_faces.jpg")], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "done"
        assert proc.stderr == ""
