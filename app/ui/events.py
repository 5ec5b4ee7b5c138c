"""How the live threads report to the UI thread: `LiveEvents`, Qt signals carrying ints and
strings only, and `one_line`, an exception as the one line the UI shows."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.core import EmotionLensError


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, EmotionLensError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class LiveEvents(QObject):
    """Signals the worker threads emit (delivered queued to the UI thread). They carry only ints
    and strings: Python objects ride in thread-safe attributes instead, as PySide6 can mis-count
    references of queued `object` arguments that are dropped at shutdown."""

    resultReady = Signal()
    sourceOpened = Signal(int)  # generation; the SourceInfo is CaptureThread.info
    sourceFailed = Signal(int, str)
    sourceEnded = Signal(int)  # the capture thread read the last frame
    sourceWarning = Signal(int, str)  # e.g. a truncated video: it plays as far as it decodes
    sourceDrained = Signal(int)  # ... and the worker has processed everything before it
    cameraLost = Signal(int)
    cameraBack = Signal(int)
    pipelineLoading = Signal(str)
    pipelineReady = Signal()  # InferenceWorker.info
    pipelineFailed = Signal(str)
    processingError = Signal(str)
    recordingError = Signal(str)
    recordingSaved = Signal(str)  # the files written, comma-separated
    limitReached = Signal()
    calibrationDone = Signal(int, str)  # face ID, one line on its new baseline
    calibrationFailed = Signal(int, str)  # face ID, one line on why
