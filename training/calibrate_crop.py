"""Calibrate the serving crop to a pre-cropped dataset's framing (FER2013).

FER2013 faces come cropped; the app crops live faces from detector boxes. To feed the model what it
was trained on, run each detector on upscaled, padded dataset faces and measure where the dataset's
crop lies relative to the detector's box: side / box width (scale) and the centre offset in box
widths/heights. The medians go into `training/configs/crops/<dataset>.toml`, which export copies
into `model.json`.

    python -m training.calibrate_crop --data ../shared/datasets/fer2013/val \
        --out training/configs/crops/fer2013.toml
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from app.core import EmotionLensError
from app.core.align import eye_angle
from app.core.detect import create_detector
from training.cli import Parser, one_line_errors

UPSCALE = 4
PAD = 0.5  # padding on each side, in crop sides


def measure(images: list[np.ndarray], detector_name: str) -> dict[str, float]:
    """Median crop geometry of `images` (gray or BGR face crops) relative to detector boxes."""
    scales, offx, offy, rolls = [], [], [], []
    with create_detector(detector_name, min_score=0.5) as det:
        for img in images:
            bgr = img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            side = bgr.shape[1] * UPSCALE
            big = cv2.resize(bgr, (side, side), interpolation=cv2.INTER_CUBIC)
            pad = int(side * PAD)
            big = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            faces = det.detect(big)
            if len(faces) != 1:
                continue
            face = faces[0]
            x, y, w, h = face.box
            cx, cy = pad + side / 2, pad + side / 2
            scales.append(side / max(w, h))
            offx.append((cx - (x + w / 2)) / w)
            offy.append((cy - (y + h / 2)) / h)
            rolls.append(abs(eye_angle(face)))
    if not scales:
        raise EmotionLensError(f"{detector_name}: found no faces to calibrate on")
    return {
        "scale": round(float(np.median(scales)), 4),
        "offset_x": round(float(np.median(offx)), 4),
        "offset_y": round(float(np.median(offy)), 4),
        "found": len(scales),
        "tried": len(images),
        "median_abs_roll_deg": round(float(np.median(rolls)), 2),
    }


def load_sample(data: Path, per_class: int, seed: int) -> list[np.ndarray]:
    if not data.is_dir():
        raise EmotionLensError(f"dataset folder not found: {data}")
    rng = np.random.default_rng(seed)
    images = []
    for class_dir in sorted(p for p in data.iterdir() if p.is_dir()):
        files = sorted(class_dir.glob("*.jpg")) + sorted(class_dir.glob("*.png"))
        for f in rng.permutation(len(files))[:per_class]:
            img = cv2.imread(str(files[f]), cv2.IMREAD_GRAYSCALE)
            if img is not None:
                images.append(img)
    if not images:
        raise EmotionLensError(f"no images found under {data}")
    return images


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m training.calibrate_crop", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder-per-class dataset split")
    parser.add_argument("--out", type=Path, required=True, help="TOML file to write")
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detectors", nargs="+", default=["mediapipe", "opencv"])
    args = parser.parse_args(argv)
    images = load_sample(args.data, args.per_class, args.seed)
    lines = [f"# Crop calibrated on {len(images)} faces of {args.data.name} "
             f"(python -m training.calibrate_crop); scale = crop side / box width.", ""]
    for name in args.detectors:
        m = measure(images, name)
        print(f"{name}: {m}")
        lines += [f"[{name}]", f"scale = {m['scale']}", f"offset_x = {m['offset_x']}",
                  f"offset_y = {m['offset_y']}", "rotate = true",
                  f"# found {m['found']} of {m['tried']}; median |roll| {m['median_abs_roll_deg']} deg",
                  ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
