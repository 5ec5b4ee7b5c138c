"""training/clock.py: a stopped process's pause is left out of its training time (a real
process, really stopped with SIGSTOP and continued with SIGCONT)."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.training.conftest import ROOT_DIR
from training.clock import ActiveClock

CHILD = """
import json, sys, time
from training.clock import ActiveClock
clock = ActiveClock().start()
t0 = time.monotonic()
print("ready", flush=True)
time.sleep(float(sys.argv[1]))
print(json.dumps({"wall": time.monotonic() - t0, "active": clock.now(), "paused": clock.paused_s}),
      flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP (POSIX)")
def test_a_stopped_process_does_not_count_its_pause() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, "6"], cwd=ROOT_DIR,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    os.kill(child.pid, signal.SIGSTOP)
    time.sleep(4.0)
    os.kill(child.pid, signal.SIGCONT)
    out, _ = child.communicate(timeout=30)
    got = json.loads(out.strip().splitlines()[-1])
    # 6 s of wall time (a sleep's deadline passes while stopped), 4 s of them stopped
    assert got["wall"] == pytest.approx(6.0, abs=0.5)
    assert got["paused"] == pytest.approx(4.0, abs=0.8)
    assert got["active"] == pytest.approx(got["wall"] - got["paused"], abs=0.01)
    assert got["active"] == pytest.approx(2.0, abs=0.8)


def test_a_running_clock_counts_all_its_time_and_ends_its_thread() -> None:
    clock = ActiveClock(tick_s=0.05, stall_s=0.5).start()
    t0 = time.monotonic()
    busy_until = t0 + 1.0
    while time.monotonic() < busy_until:  # a busy process is not a stopped one
        sum(range(1000))
    assert clock.paused_s == 0.0
    assert clock.now() == pytest.approx(time.monotonic() - t0, abs=0.05)
    threads = {t for t in threading.enumerate() if t.name == "active-clock"}
    del clock
    gc.collect()
    time.sleep(0.2)
    assert not any(t.is_alive() for t in threads)
    with pytest.raises(ValueError):
        ActiveClock(tick_s=1.0, stall_s=0.5)
