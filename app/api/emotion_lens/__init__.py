"""Emotion Lens from Python: facial expression annotations as pandas DataFrames.

    import emotion_lens as el

    df = el.analyze("clip.mp4")                     # one video, image or folder of images
    corpus = el.analyze_corpus("interviews/", out="annotations/", workers=2)
    summary = el.summarize(corpus)                  # per source and face ID

A facial expression is not a felt emotion: the labels describe what a face shows, not what a
person feels. Everything runs on this machine (with `ray=`, on the Ray cluster you give).

Emotion Lens's own package is named `app`, like many users' own `app.py`. This module is the
import that does not collide: it binds the name `app` to Emotion Lens's package (found beside
this one in a wheel, or above it in a source tree) before anything else can claim it, so that a
script named app.py, or one run from a folder holding one, can `import emotion_lens` at its top.
When another `app` was imported first (`flask run` imports the user's app.py as `app`), it
says so in one line instead of failing deep inside. The code itself is `app.services.frames`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _our_app() -> Path:
    here = Path(__file__).resolve().parent
    for root in (here.parent / "app", here.parents[1]):  # a wheel: site-packages/app; app/api/..
        if root.name == "app" and (root / "__init__.py").is_file() and (root / "core").is_dir():
            return root
    raise ImportError(f"emotion_lens: Emotion Lens's `app` package is not beside {here}; "
                      f"reinstall emotion-lens")


def _claim_app() -> None:
    ours = _our_app()
    loaded = sys.modules.get("app")
    if loaded is not None:
        where = getattr(loaded, "__file__", None)
        if where is not None and Path(where).resolve().parent == ours:
            return
        raise ImportError(f"emotion_lens needs the module name `app` for Emotion Lens, but "
                          f"{where or loaded!r} was imported as `app` first; import emotion_lens "
                          f"before it, or rename that module")
    spec = importlib.util.spec_from_file_location("app", ours / "__init__.py",
                                                  submodule_search_locations=[str(ours)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules["app"]
        raise


_claim_app()

from app import __version__  # noqa: E402 (after the name `app` is ours)
from app.core import EmotionLensError  # noqa: E402
from app.core.settings import PipelineSettings  # noqa: E402
from app.services.frames import (  # noqa: E402
    analyze,
    analyze_corpus,
    read_annotations,
    read_batch,
    summarize,
)

__all__ = ["EmotionLensError", "PipelineSettings", "__version__", "analyze", "analyze_corpus",
           "read_annotations", "read_batch", "summarize"]
