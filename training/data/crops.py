"""The crop each face detector must produce to match a dataset's framing, as calibrated by
`python -m training.calibrate_crop` into `training/configs/crops/<dataset>.toml`.

Export copies it into each bundle's `model.json`; the ExpW loader uses it to align raw photos the
way the app crops live faces (`load_expw(..., align=DETECTOR)`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from app.core import EmotionLensError

CROPS_DIR = Path(__file__).resolve().parents[1] / "configs" / "crops"


def crop_spec_for(dataset: str) -> dict[str, dict[str, Any]]:
    """The crop each face detector must produce to match `dataset`'s framing.

    Read from `training/configs/crops/<dataset>.toml` (one table per detector name with scale,
    offset_x, offset_y, rotate); without that file: the detector box as-is under "default"."""
    from app.core.bundle import CropSpec

    path = CROPS_DIR / f"{dataset}.toml"
    if not path.is_file():
        return {"default": CropSpec().to_dict()}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise EmotionLensError(f"{path} is not valid TOML: {exc}") from None
    out = {det: CropSpec.from_dict(spec).to_dict() for det, spec in data.items()
           if isinstance(spec, dict)}
    if not out:
        raise EmotionLensError(f"{path} holds no detector tables")
    return out
