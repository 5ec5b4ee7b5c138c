"""Pipeline settings from the command line: the defaults, then the `[pipeline]` table of the
`--config` file, then the options that override it (`--detector`, `--backend`,
`--min-face-score`, `--smoothing`).

Each option is checked by `app.core.settings.check_value`, against the same RANGES and CHOICES as
a `[pipeline]` value and with the same one-line message, the option named in front:
`--smoothing: smoothing_half_life_s must be 0..60 (got 100.0)`. The entry point (`app.cli`)
checks the options before it dispatches; the front ends (`app.bench`, the desktop app
`app.ui.main`) build their settings with `settings_from_args`.
"""

from __future__ import annotations

import argparse
from typing import Any

from app.core.settings import PipelineSettings, check_value, load_settings

# option (its argparse dest) -> the PipelineSettings field it sets
OPTION_FIELDS: dict[str, str] = {
    "detector": "detector",
    "backend": "backend",
    "min_face_score": "min_face_score",
    "smoothing": "smoothing_half_life_s",
}


def option_flag(dest: str) -> str:
    """The command-line spelling of an option: min_face_score -> --min-face-score."""
    return "--" + dest.replace("_", "-")


def option_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the given options set (field -> value), each one checked like a `[pipeline]`
    value; options left out (None) set nothing."""
    out: dict[str, Any] = {}
    for dest, key in OPTION_FIELDS.items():
        value = getattr(args, dest, None)
        if value is not None:
            check_value(key, value, f"{option_flag(dest)}: ")
            out[key] = value
    return out


def check_options(args: argparse.Namespace) -> None:
    """Refuse an option outside its range or choices in one line, before anything is read."""
    option_overrides(args)


def settings_from_args(args: argparse.Namespace) -> PipelineSettings:
    """Defaults < the `--config` file's `[pipeline]` table < the options."""
    overrides = option_overrides(args)  # a bad option is refused before the file is read
    return load_settings(getattr(args, "config", None)).with_overrides(**overrides)
