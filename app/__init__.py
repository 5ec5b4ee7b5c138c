"""Emotion Lens: real-time facial expression recognition that runs on your own machine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("emotion-lens")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+local"
