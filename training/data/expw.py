"""ExpW (Expression in-the-Wild): `label.lst` + whole images; faces are cropped by their box.

`label.lst` lines: `image_name face_id top left right bottom confidence label` with labels
0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral. Images are looked up in
`image/origin/`, `origin/`, `image/`, `images/` or next to label.lst. Boxes below `min_confidence`
are filtered; missing/corrupt images, bad lines (wrong field count, non-numbers, NaN/inf), image names
outside the dataset folder (absolute or with `..`) and boxes that are empty, outside the image or over
twice its size are counted, never a crash.
With `align=<detector>` the face is re-detected inside the box with `app.core` and aligned (eyes
level, the dataset's crop spec); otherwise the box is cropped as is (square, `margin` around it).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path, PurePath

import numpy as np

from app.core import EXPRESSIONS, EmotionLensError
from app.core.bundle import CropSpec, crop_for
from training.data.base import Dataset, LoadReport, to_size

EXPW_CODES = EXPRESSIONS
IMAGE_DIRS = ("image/origin", "origin", "image", "images", "")


def _label_file(root: Path) -> Path:
    for cand in (root / "label.lst", root / "label" / "label.lst"):
        if cand.is_file():
            return cand
    raise EmotionLensError(f"no label.lst in {root} (or {root}/label/)")


def _find_image(root: Path, name: str) -> Path | None:
    for d in IMAGE_DIRS:
        p = root / d / name
        if p.is_file():
            return p
    return None


def square_box(left: float, top: float, right: float, bottom: float, margin: float,
               ) -> tuple[int, int, int]:
    """(x, y, side) of a square around the box, enlarged by `margin` × side."""
    cx, cy = (left + right) / 2, (top + bottom) / 2
    side = max(right - left, bottom - top) * (1 + margin)
    return round(cx - side / 2), round(cy - side / 2), max(1, round(side))


def box_fits(left: float, top: float, right: float, bottom: float, width: int, height: int) -> bool:
    """A face box of this picture: it overlaps the image and is at most twice the image's size."""
    overlaps = left < width and top < height and right > 0 and bottom > 0
    return overlaps and max(right - left, bottom - top) <= 2 * max(width, height)


def crop_square(img: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    """Crop with edge replication where the square leaves the image; only the square is allocated
    (padding the whole image first made a box far outside it allocate terabytes)."""
    h, w = img.shape[:2]
    rows = np.clip(np.arange(y, y + side), 0, h - 1)
    cols = np.clip(np.arange(x, x + side), 0, w - 1)
    return img[np.ix_(rows, cols)]


def load_expw(root: str | Path, *, labels: tuple[str, ...] = EXPRESSIONS, size: int = 48,
              channels: int = 1, min_confidence: float = 0.0, margin: float = 0.0,
              extra_map: dict[str, str | None] | None = None, align: str | None = None,
              ) -> Dataset:
    import cv2

    root = Path(root)
    lst = _label_file(root)
    report = LoadReport(source=str(lst))
    extra_map = dict(extra_map or {})
    xs: list[np.ndarray] = []
    ys: list[int] = []
    cache: dict[str, np.ndarray | None] = {}
    detector = crop_spec = None
    if align:
        from app.core.detect import create_detector
        from training.data.crops import crop_spec_for

        detector = create_detector(align)
        crops = {name: CropSpec.from_dict(d) for name, d in crop_spec_for("fer2013").items()}
        crop_spec = crop_for(crops, detector.name)
    for line in lst.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 8:
            report.skipped["malformed label.lst line"] += 1
            continue
        name, _face, top, left, right, bottom, conf, code = parts
        try:
            t, lft, r, b = (float(v) for v in (top, left, right, bottom))
            confidence = float(conf)
        except ValueError:
            report.skipped["malformed label.lst line"] += 1
            continue
        if not all(math.isfinite(v) for v in (t, lft, r, b)):  # 'nan', 'inf', '1e999'
            report.skipped["malformed label.lst line"] += 1
            continue
        if not (code.isascii() and code.isdigit()) or int(code) >= len(EXPW_CODES):  # not '²'
            report.unknown_labels[code] += 1
            continue
        label = EXPW_CODES[int(code)]
        if label in extra_map and extra_map[label] is None:
            report.skipped[f"class {label!r} excluded"] += 1
            continue
        label = extra_map.get(label) or label
        if label not in labels:
            report.skipped[f"class {label!r} excluded"] += 1
            continue
        if confidence < min_confidence:
            report.skipped[f"box confidence below {min_confidence:g}"] += 1
            continue
        if r <= lft or b <= t:
            report.skipped["empty face box"] += 1
            continue
        if PurePath(name).is_absolute() or ".." in PurePath(name).parts:
            report.skipped["image name outside the dataset folder"] += 1
            continue
        if name not in cache:
            path = _find_image(root, name)
            img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path is not None else None
            cache.clear()  # lines of one image are consecutive: keep just the current one
            cache[name] = img if img is not None and img.size else None
            if cache[name] is None:
                report.corrupt.append(name if path is not None else f"{name} (missing)")
        img = cache[name]
        if img is None:
            continue
        if not box_fits(lft, t, r, b, img.shape[1], img.shape[0]):
            report.skipped["face box outside the image or over twice its size"] += 1
            continue
        face = None
        if detector is not None:
            face = _aligned(img, (lft, t, r, b), detector, crop_spec, size, channels)
        if face is None:
            x, y, side = square_box(lft, t, r, b, margin)
            crop = crop_square(img, x, y, side)
            if channels == 3:
                crop = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
            else:
                crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
            face = to_size(crop, size, channels)
        xs.append(face)
        ys.append(labels.index(label))
        report.counts[label] += 1
    if detector is not None:
        detector.close()
    report.counts = Counter({k: report.counts[k] for k in labels if report.counts[k]})
    if not xs:
        raise EmotionLensError(f"no usable faces in {lst}")
    return Dataset(np.stack(xs), np.asarray(ys, dtype=np.int64), labels, report)


def _aligned(img: np.ndarray, box: tuple[float, float, float, float], detector: object,
             crop: CropSpec, size: int, channels: int) -> np.ndarray | None:
    """Re-detect the face overlapping `box` most and align it; None when no detection overlaps."""
    from app.core.align import align_face
    from app.core.track import iou

    lft, t, r, b = box
    best, best_iou = None, 0.3
    for d in detector.detect(img):  # type: ignore[attr-defined]
        overlap = iou((lft, t, r - lft, b - t), d.box)
        if overlap > best_iou:
            best, best_iou = d, overlap
    if best is None:
        return None
    return align_face(img, best, crop, size, channels)
