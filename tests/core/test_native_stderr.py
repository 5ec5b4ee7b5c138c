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
