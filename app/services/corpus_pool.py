"""A corpus on this machine's cores: the per-item task (`corpus_task.run_task`) in a pool of worker
processes, each with its own pipeline (the model loaded once per worker), or in this process.

Workers are started with the `spawn` method (TensorFlow and LiteRT are not fork-safe). They report
frames done through a queue that the driver drains for its progress bar. Ctrl-C reaches the
workers too (the same terminal): each finishes the frame in hand and its outputs, like
`annotate`; the driver stops handing out items, collects the outcomes of those in flight, and
raises `KeyboardInterrupt`. A worker that dies (a crash in a native library, the OOM killer)
breaks the pool: the items in flight are then run again one at a time in a new pool, so that only
the one that takes its worker down again is `failed`, and the others resume where they were.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import queue as queue_module
import signal
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from app.core import EmotionLensError
from app.core.settings import PipelineSettings
from app.services.corpus_task import FAILED, INTERRUPTED, Outcome, Task, one_line, run_task, worker_pipeline

OutcomeFn = Callable[[Outcome], None]
FramesFn = Callable[[int], None]
POLL_S = 0.2
DIED = ("the worker process died while annotating it (a crash in a decoder or the model runtime, "
        "or out of memory); outputs written so far are kept")
NO_START = ("the worker processes could not start: a script that runs a batch on workers must start "
            "it under `if __name__ == \"__main__\":` (or use workers=0)")


def run_here(tasks: list[Task], settings: PipelineSettings, model: str | None, on_outcome: OutcomeFn,
             on_frames: FramesFn, stop: threading.Event) -> None:
    """Every task in this process, one after the other, with one pipeline."""
    pipeline = worker_pipeline(settings, model)
    for task in tasks:
        if stop.is_set():
            return
        outcome = run_task(task, pipeline, on_frames, stop.is_set)
        on_outcome(outcome)
        if outcome.status == INTERRUPTED and not stop.is_set():
            raise KeyboardInterrupt  # Ctrl-C: annotate finished the item's outputs first


# --- in each worker process ---------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init(settings: PipelineSettings, model: str | None, frames: Any, stop: Any) -> None:
    # Ctrl-C between items is the driver's business; during one, annotate's own handler (installed
    # for the item) finishes its outputs first
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER.update(settings=settings, model=model, frames=frames, stop=stop)
    with contextlib.suppress(Exception):  # load the model now; a failure is the first task's outcome
        worker_pipeline(settings, model)
    frames.put(0)  # this worker started


def _work(task: Task) -> Outcome:
    try:
        pipeline = worker_pipeline(_WORKER["settings"], _WORKER["model"])
    except Exception as exc:
        return Outcome(task.key, FAILED, f"cannot start the pipeline: {one_line(exc)}")
    return run_task(task, pipeline, _WORKER["frames"].put, _WORKER["stop"].is_set)


# --- the driver -----------------------------------------------------------------------------------

def run_pool(tasks: list[Task], settings: PipelineSettings, model: str | None, workers: int,
             on_outcome: OutcomeFn, on_frames: FramesFn, stop: threading.Event) -> None:
    """Every task in a pool of `workers` processes (see the module's docstring); `stop` (set by
    the caller) ends the run after the items in flight, which finish their outputs."""
    ctx = mp.get_context("spawn")
    frames = ctx.Queue()
    worker_stop = ctx.Event()
    pending: deque[Task] = deque(tasks)
    suspects: deque[Task] = deque()  # in flight when a worker died: run again one at a time
    suspected: set[str] = set()
    running: dict[Future[Outcome], Task] = {}
    pool: ProcessPoolExecutor | None = None
    stopping = ctrl_c = False
    started = [False]  # a worker has come up (else a broken pool is one that cannot start)
    pressed = [False]  # a worker's item was interrupted by Ctrl-C

    def drain() -> None:
        while True:
            try:
                n = frames.get_nowait()
            except queue_module.Empty:
                return
            started[0] = True
            if n:
                on_frames(n)

    def finish(fut: Future[Outcome], task: Task) -> bool:
        """Hand on the outcome; False when the pool broke under it."""
        try:
            outcome = fut.result()
        except BrokenProcessPool:
            if task.key in suspected:  # it ran alone: it took its worker down
                on_outcome(Outcome(task.key, FAILED, DIED))
            else:
                suspected.add(task.key)
                suspects.append(task)
            return False
        except Exception as exc:  # the outcome could not come back (pickling ...)
            outcome = Outcome(task.key, FAILED, one_line(exc))
        if outcome.status == INTERRUPTED and not worker_stop.is_set():
            # the worker's item saw Ctrl-C (its process group's SIGINT) that this process did not
            # act on (it can arrive here late, or not at all): it was Ctrl-C all the same
            pressed[0] = True
        on_outcome(outcome)
        return True

    try:
        while running or (not stopping and (pending or suspects)):
            try:
                if stop.is_set() and not stopping:
                    stopping = True
                    worker_stop.set()
                if pool is None:
                    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init,
                                               initargs=(settings, model, frames, worker_stop))
                if not stopping:
                    if suspects:
                        if not running:
                            task = suspects.popleft()
                            running[pool.submit(_work, task)] = task
                    else:
                        while pending and len(running) < workers:
                            task = pending.popleft()
                            running[pool.submit(_work, task)] = task
                done, _ = wait(running, timeout=POLL_S, return_when=FIRST_COMPLETED)
                drain()
                whole = True
                for fut in done:
                    whole = finish(fut, running.pop(fut)) and whole
                if pressed[0] and not ctrl_c:
                    stopping = ctrl_c = True
                    worker_stop.set()
                if not whole:  # the pool is broken: every future in flight fails with it
                    drain()
                    if not started[0]:
                        raise EmotionLensError(NO_START)
                    for fut in list(running):
                        with contextlib.suppress(Exception):
                            fut.exception()
                        finish(fut, running.pop(fut))
                    pool.shutdown(wait=True, cancel_futures=True)
                    pool = None
            except KeyboardInterrupt:
                if stopping and ctrl_c:
                    raise  # a second Ctrl-C: leave now (the workers finish their outputs)
                stopping = ctrl_c = True
                worker_stop.set()
        drain()
    finally:
        if pool is not None:
            pool.shutdown(wait=not ctrl_c or not running, cancel_futures=True)
        frames.close()
    if ctrl_c:
        raise KeyboardInterrupt


__all__ = ["run_here", "run_pool"]
