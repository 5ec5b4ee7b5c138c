"""The report's thumbnails (`app/services/report.py`): a face's most confident frame, cut from
the source video, image or folder when it is at hand, else from the annotated video."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from app.core.sources import IMAGE_SUFFIXES
from app.services.report_results import Results, record_part

THUMB_PX = 112


def thumbnails(best: dict[int, int], res: Results, record: dict[str, Any] | None,
               source: Path | None) -> tuple[dict[int, tuple[str | None, str]], str]:
    """For each face ID of `best` (its most confident row): (a JPEG data URI of the face or
    None, where it comes from or why there is none), cut from the source when it is at hand,
    else from the annotated video (or image); and a note when no face got one."""
    run = record_part(record, "run") or {}
    named = source or (Path(p) if isinstance(p := (record_part(run, "source", "path")
                                                   or record_part(record, "identity", "input", "path")),
                                               str) else None)
    kind = record_part(run, "source", "kind")
    images: dict[int, np.ndarray] = {}  # row -> image
    where: dict[int, str] = {}  # row -> where its image comes from
    if named is not None and named.exists() and kind != "camera":
        images = _from_source(named, best, res)
        where = dict.fromkeys(images, f"from the source {named.name}")
    if len(images) < len(best):
        annotated = [Path(p) for p in (record_part(record, "outputs") or []) if isinstance(p, str)
                     and Path(p).suffix.lower() in (".mp4", *IMAGE_SUFFIXES) and Path(p).is_file()]
        if annotated:
            more = _from_annotated(annotated[0], {f: r for f, r in best.items() if r not in images},
                                   res, run)
            images.update(more)
            where.update(dict.fromkeys(more, f"from the annotated {annotated[0].name}"))
    why = ("the source is not at hand" + (f" ({named})" if named is not None else " (unknown)")
           + " and no annotated video is")
    out: dict[int, tuple[str | None, str]] = {}
    for face_id, row in best.items():
        image = images.get(row)
        if image is None:
            out[face_id] = (None, f"no thumbnail: {why}")
            continue
        uri = crop(image, res.box[row])
        out[face_id] = (uri, where[row] if uri else "no thumbnail: the box lies outside the frame")
    return out, ("" if images or not best else f"no thumbnails: {why}; pass --source VIDEO to use it")


def _open_video(path: Path) -> Any:
    import cv2

    from app.core.native import quiet_native_stderr

    with quiet_native_stderr():
        cap = cv2.VideoCapture(str(path))
    return cap if cap.isOpened() else None


def video_frames(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    """The frames of `path` (in decode order, as annotate numbers them) whose index is in
    `wanted`; those past the end are left out."""
    cap = _open_video(path)
    if cap is None:
        return {}
    found: dict[int, np.ndarray] = {}
    try:
        last = max(wanted) if wanted else -1
        for index in range(last + 1):
            if not cap.grab():
                break
            if index in wanted:
                ok, image = cap.retrieve()
                if ok and image is not None:
                    found[index] = image
    finally:
        cap.release()
    return found


def crop(image: np.ndarray, box: np.ndarray, px: int = THUMB_PX) -> str | None:
    """The face in `box` (with a margin) as a JPEG data URI."""
    import cv2

    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * 1.3
    cx, cy = x + w / 2, y + h / 2
    H, W = image.shape[:2]
    x0, y0 = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    x1, y1 = min(W, round(cx + side / 2)), min(H, round(cy + side / 2))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    face = image[y0:y1, x0:x1]
    scale = px / max(face.shape[:2])
    face = cv2.resize(face, (max(1, round(face.shape[1] * scale)), max(1, round(face.shape[0] * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    if face.ndim == 2:
        face = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    ok, data = cv2.imencode(".jpg", face[..., :3], [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode("ascii") if ok else None


def _from_source(path: Path, best: dict[int, int], res: Results) -> dict[int, np.ndarray]:
    from app.core.sources import read_image

    out: dict[int, np.ndarray] = {}
    try:
        if path.is_dir():
            for row in best.values():
                name = res.file[row] if res.file is not None else ""
                if name and (path / name).is_file():
                    out[row] = read_image(path / name)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            image = read_image(path)
            out = {row: image for row in best.values()}
        else:
            frames = video_frames(path, {int(res.frame[row]) for row in best.values()})
            out = {row: frames[int(res.frame[row])] for row in best.values()
                   if int(res.frame[row]) in frames}
    except EmotionLensError:
        return {}
    return out


def _from_annotated(path: Path, best: dict[int, int], res: Results,
                    run: dict[str, Any]) -> dict[int, np.ndarray]:
    """Frames of the annotated video: numbered as the source's (annotate writes every frame), or
    for the app's Record (a constant-rate video from `video_start_s`) found by time."""
    from app.core.sources import read_image

    if path.suffix.lower() in IMAGE_SUFFIXES:
        try:
            image = read_image(path)
        except EmotionLensError:
            return {}
        return {row: image for row in best.values()}
    if run.get("kind") == "record" and isinstance(run.get("video_start_s"), int | float):
        fps = float(run.get("video_fps") or 30.0)
        index = {row: max(0, round((res.time_s[row] - run["video_start_s"]) * fps))
                 for row in best.values()}
    else:
        index = {row: int(res.frame[row]) for row in best.values()}
    frames = video_frames(path, set(index.values()))
    return {row: frames[i] for row, i in index.items() if i in frames}



__all__ = ["THUMB_PX", "crop", "thumbnails", "video_frames"]
