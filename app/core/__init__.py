"""Plain-Python core shared by the GUI, the CLI and training (no Qt here)."""

import os

# Quiet the native INFO chatter of TensorFlow, LiteRT and MediaPipe (warnings and errors still show).
for _var, _level in (("TF_CPP_MIN_LOG_LEVEL", "2"), ("GLOG_minloglevel", "2")):
    os.environ.setdefault(_var, _level)

EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class EmotionLensError(Exception):
    """An error with a message meant for the user (shown as one line, no traceback)."""
