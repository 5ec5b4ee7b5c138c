"""What the training commands share on the console: argument parsing with errors as one
`error: ...` line and exit 2, and the timestamped progress lines (`log`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import wraps
from typing import NoReturn

from app.core import EmotionLensError


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def one_line_errors(main: Callable[..., int]) -> Callable[..., int]:
    """A command's `main`: an `EmotionLensError` becomes one `error: ...` line and exit code 2."""

    @wraps(main)
    def wrapper(*args: object, **kwargs: object) -> int:
        try:
            return main(*args, **kwargs)
        except EmotionLensError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return wrapper


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
