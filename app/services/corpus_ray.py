"""A corpus on a Ray cluster: the per-item task (`corpus_task.run_task`) as one Ray task per item.

The only module that imports Ray (the `emotion-lens[cluster]` extra). The model bundle travels
through Ray's object store (model.json and the one model file used, a few MB, `ray.put` once);
each worker process unpacks it to a temporary folder once and keeps one pipeline for every item
it runs, as in Ray Data's batch-inference examples. Inputs and outputs are paths the driver
gives: every node must see them at the same place (a shared filesystem), and every node needs
Emotion Lens installed in the Python that runs Ray.

Progress: tasks add the frames they have done to a small actor that the driver polls for its
bar, and ask it whether to stop. Ctrl-C sets that flag: the tasks in flight finish the frame in
hand and their outputs; a second Ctrl-C cancels them outright. Ray retries a task once when its
worker dies; a second death is the item's `failed` outcome.

Ray's `uv run` hook is switched off (`RAY_ENABLE_UV_RUN_RUNTIME_ENV=0`, before Ray is imported):
under `uv run` it would start every worker with `uv run` in a copy of the driver's working folder
(a user's folder of videos, zipped and shipped), which needs the network to resolve and failed
outright here when a proxy variable was set. Workers run the Python that runs Ray, as documented.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # before Ray reads it (see above)

import ray

from app.core import EmotionLensError
from app.core.settings import PipelineSettings
from app.services.corpus_task import FAILED, Outcome, Task, one_line, run_task, worker_pipeline

POLL_S = 0.2
DIED = "the Ray worker running it died twice (a crash in a decoder or the model runtime, or out of memory)"


def pack_bundle(folder: Path, files: list[Path]) -> dict[str, Any]:
    """A bundle as plain data for the object store: its folder's name (the model's name when
    model.json has none), the bytes of `files`, and a digest of them."""
    data = {path.name: path.read_bytes() for path in files}
    digest = hashlib.sha256()
    for name in sorted(data):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data[name]).digest())
    return {"name": folder.name, "files": data, "digest": digest.hexdigest()}


# --- in each Ray worker process -------------------------------------------------------------------

_UNPACKED: dict[str, Path] = {}


def _bundle_dir(bundle: dict[str, Any]) -> Path:
    """This worker's copy of `bundle`, unpacked once (removed when the worker exits)."""
    path = _UNPACKED.get(bundle["digest"])
    if path is None or not path.is_dir():
        root = tempfile.mkdtemp(prefix="emotion-lens-model-")
        atexit.register(shutil.rmtree, root, True)
        path = Path(root) / bundle["name"]
        path.mkdir()
        for name, data in bundle["files"].items():
            (path / name).write_bytes(data)
        _UNPACKED[bundle["digest"]] = path
    return path


@ray.remote(num_cpus=0)
class _Progress:
    """Frames done across the cluster (taken by the driver), and whether to stop."""

    def __init__(self) -> None:
        self.frames = 0
        self.stopped = False

    def add(self, n: int) -> None:
        self.frames += n

    def take(self) -> int:
        n, self.frames = self.frames, 0
        return n

    def stop(self) -> None:
        self.stopped = True

    def is_stopped(self) -> bool:
        return self.stopped


@ray.remote(max_retries=1)
def _item(task: Task, settings: PipelineSettings, bundle: dict[str, Any], progress: Any) -> Outcome:
    try:
        pipeline = worker_pipeline(settings, str(_bundle_dir(bundle)))
    except Exception as exc:
        return Outcome(task.key, FAILED, f"cannot start the pipeline: {one_line(exc)}")
    return run_task(task, pipeline, lambda n: progress.add.remote(n),
                    lambda: bool(ray.get(progress.is_stopped.remote())))


# --- the driver -----------------------------------------------------------------------------------

def _recorded_address() -> str | None:
    """The cluster Ray itself would join for "auto": $RAY_ADDRESS, else the one `ray start` last
    recorded on this machine (which may have stopped since)."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    try:
        return Path(tempfile.gettempdir(), "ray", "ray_current_cluster").read_text().strip() or None
    except OSError:
        return None


def _answers(address: str, timeout_s: float = 2.0) -> bool:
    """Whether something listens at a `host:port` address (other forms: assumed so). Ray waits
    minutes for a cluster that is gone; this asks in seconds."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return True
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def _resolve(address: str | None) -> str:
    """The address to give `ray.init` (see `connect`), or one line when no cluster answers."""
    if address in (None, "auto"):
        recorded = _recorded_address()
        if recorded is not None and _answers(recorded):
            return recorded
        if address is None:
            return "local"
        gone = f" (none answers at {recorded}: it has stopped)" if recorded else ""
        raise EmotionLensError(f"no running Ray cluster found{gone}; start one with `ray start "
                               f"--head`, or give its address")
    if not _answers(address):
        raise EmotionLensError(f"no Ray cluster answers at {address}")
    return address


def connect(address: str | None) -> bool:
    """Join the Ray cluster at `address` ("auto": the one started on this machine with `ray
    start --head`, or $RAY_ADDRESS; None: that one, or else a new local instance); True when
    this call joined (the caller calls `shutdown`). A Ray already initialised in this process is
    used as it is."""
    if ray.is_initialized():
        return False
    target = _resolve(address)
    try:
        ray.init(address=target, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
    except ConnectionError as exc:
        first = (str(exc).splitlines() or [""])[0]
        why = "no running Ray cluster found" if "could not find" in first.lower() or not first else first
        raise EmotionLensError(f"cannot connect to the Ray cluster at {target}: {why} (start one "
                               f"with `ray start --head`, or give its address)") from None
    return True


def shutdown() -> None:
    """Leave the cluster (and stop the local instance `connect` started)."""
    ray.shutdown()


def run_ray(tasks: list[Task], settings: PipelineSettings, bundle: dict[str, Any], cpus: int,
            on_outcome: Callable[[Outcome], None], on_frames: Callable[[int], None],
            stop: threading.Event) -> None:
    """Every task as a Ray task that reserves `cpus` CPUs, a pipeline's share, on the cluster
    `connect` joined (see the module's docstring)."""
    progress = None
    running: dict[Any, Task] = {}
    stopping = ctrl_c = False
    try:
        progress = _Progress.remote()
        bundle_ref = ray.put(bundle)
        nodes = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
        cpus = max(1, min(cpus, int(max(nodes, default=1))))  # a task must fit on some node
        slots = max(1, sum(int(n // cpus) for n in nodes))
        remote = _item.options(num_cpus=cpus)
        pending = list(reversed(tasks))
        while running or (pending and not stopping):
            try:
                if stop.is_set() and not stopping:
                    stopping = True
                    progress.stop.remote()
                while pending and not stopping and len(running) < 2 * slots:  # a few queued ahead
                    task = pending.pop()
                    running[remote.remote(task, settings, bundle_ref, progress)] = task
                ready, _ = ray.wait(list(running), num_returns=len(running), timeout=POLL_S)
                on_frames(ray.get(progress.take.remote()))
                for ref in ready:
                    task = running.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except ray.exceptions.TaskCancelledError:
                        continue
                    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError):
                        outcome = Outcome(task.key, FAILED, DIED)
                    except ray.exceptions.RayError as exc:
                        outcome = Outcome(task.key, FAILED, f"Ray: {one_line(exc).splitlines()[0]}")
                    on_outcome(outcome)
            except KeyboardInterrupt:
                if ctrl_c:
                    for ref in running:  # a second Ctrl-C: stop them now
                        ray.cancel(ref, force=True)
                    raise
                stopping = ctrl_c = True
                progress.stop.remote()
        on_frames(ray.get(progress.take.remote()))
    finally:
        if progress is not None:
            with contextlib.suppress(Exception):
                ray.kill(progress)
    if ctrl_c:
        raise KeyboardInterrupt


__all__ = ["connect", "pack_bundle", "run_ray", "shutdown"]
