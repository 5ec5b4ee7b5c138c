"""A person's neutral baseline and the prior correction it gives (FaceReader's "participant
calibration"), in plain NumPy.

Some faces look sad or angry at rest, and the model reads their neutral face as that expression.
A few seconds of a face known to be neutral give its baseline `b`: the mean of the model's raw
probabilities over those frames. The model's mean on neutral faces of its validation split,
`m` (model.json's `neutral_mean`), says what a typical neutral face reads as. That person's
later probabilities `p` are divided by the bias `b / m` and renormalised (prior correction):

    p'(k) = p(k) · r(k) / Σ_j p(j) · r(j),    r(k) = (m(k) + ε) / (b(k) + ε),  ε = 0.01

so the baseline itself reads as a typical neutral face does, and a later expression reads as
the change from that person's rest. `ε` keeps a label the baseline never showed (int8 outputs
are often exactly 0) from being multiplied without bound.

`FaceCalibrator` holds the baselines of the faces of one source, keyed by face ID: it collects
them over a time range of a file (`emotion-lens annotate --baseline START-END`) or live, per face,
for N seconds from now (`start`), and fills `FaceResult.calibrated` for the faces it has a
baseline of (`apply`). Range parsing (`parse_range`) and per-file ranges from a CSV with columns
file, start, end (`read_ranges`, `BaselineRanges.for_file`) serve the CLI and `batch`.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.core import EmotionLensError

if TYPE_CHECKING:
    from app.core.bundle import ModelBundle
    from app.core.results import FrameResult

NEUTRAL = "neutral"
EPSILON = 0.01  # added to both means before their ratio is taken (see the module docstring)
MIN_FRAMES = 3  # a face seen in fewer frames of its baseline is not calibrated
LIVE_SECONDS = 3.0  # the app's "this face is neutral now"
FALLBACK_NEUTRAL_SHARE = 0.5  # a card with neither neutral_mean nor a confusion matrix

_NUMBER = r"\s*(\d+(?:\.\d*)?|\.\d+)\s*"
_RANGE = re.compile(rf"{_NUMBER}(?:-|–|\.\.){_NUMBER}")


@dataclass(frozen=True)
class Reference:
    """What a typical neutral face reads as (`probs`, label order), and where that comes from."""

    probs: np.ndarray
    source: str  # "model.json neutral_mean (607 fer2013 val faces, int8)", or the fallback's words

    def to_dict(self) -> dict[str, Any]:
        return {"probs": [round(float(v), 5) for v in self.probs], "source": self.source}


def reference_from_card(card: Mapping[str, Any], labels: Sequence[str]) -> Reference:
    """The neutral reference of a model card (model.json as a dict).

    `neutral_mean.probs` when the card has it (measured at export). An older card falls back on
    its validation confusion matrix's neutral row (where the model's argmax put the split's
    neutral faces, +1 per cell so no label is zero): the nearest thing such a card holds, and
    closer to the real mean than a guess (for models/default it gives neutral 0.66 where the mean
    is 0.45, and the same order of the other labels). Without either, a one-hot-ish neutral
    (0.5, the rest shared evenly): a typical neutral face is read as neutral, as a model trained
    on neutral faces mostly does. A uniform reference is not used: it would make a person's
    neutral face read as nothing in particular, not as neutral."""
    labels = list(labels)
    if NEUTRAL not in labels:
        raise EmotionLensError(f"the model has no {NEUTRAL!r} label; a neutral baseline needs one")
    k = labels.index(NEUTRAL)
    entry = card.get("neutral_mean")
    if isinstance(entry, Mapping) and _probabilities(entry.get("probs"), len(labels)):
        probs = np.asarray(entry["probs"], dtype=np.float64)
        where = ", ".join(str(entry[key]) for key in ("dataset", "split", "model_file") if key in entry)
        n = f"{entry['n']} " if isinstance(entry.get("n"), int) else ""
        return Reference(probs / probs.sum(),
                         f"model.json neutral_mean ({n}neutral faces{', ' + where if where else ''})")
    metrics = card.get("metrics")
    matrix = metrics.get("confusion_matrix") if isinstance(metrics, Mapping) else None
    if (isinstance(matrix, list) and len(matrix) == len(labels) and isinstance(matrix[k], list)
            and _counts(matrix[k], len(labels))):
        row = np.asarray(matrix[k], dtype=np.float64) + 1.0
        return Reference(row / row.sum(), "the neutral row of the card's confusion matrix "
                                          "(model.json has no neutral_mean)")
    probs = np.full(len(labels), (1.0 - FALLBACK_NEUTRAL_SHARE) / (len(labels) - 1))
    probs[k] = FALLBACK_NEUTRAL_SHARE
    return Reference(probs, f"neutral {FALLBACK_NEUTRAL_SHARE:g}, the rest shared evenly "
                            f"(model.json has neither neutral_mean nor a confusion matrix)")


def reference_for(bundle: ModelBundle) -> Reference:
    """`reference_from_card` for a loaded bundle."""
    return reference_from_card(bundle.raw, bundle.labels)


def _probabilities(values: Any, n: int) -> bool:
    return (isinstance(values, list) and len(values) == n
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                    and 0.0 <= v <= 1.0 for v in values) and abs(sum(values) - 1.0) <= 0.02)


def _counts(values: list[Any], n: int) -> bool:
    return (len(values) == n and all(isinstance(v, int | float) and not isinstance(v, bool)
                                     and math.isfinite(v) and v >= 0 for v in values))


def correction(baseline: np.ndarray, reference: np.ndarray, epsilon: float = EPSILON) -> np.ndarray:
    """The factors `r` a calibrated face's probabilities are multiplied by (see the docstring)."""
    return (np.asarray(reference, np.float64) + epsilon) / (np.asarray(baseline, np.float64) + epsilon)


def correct(probs: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """`probs` (labels,) or (N, labels) times `factors`, renormalised; float32."""
    q = np.asarray(probs, np.float64) * factors
    total = q.sum(axis=-1, keepdims=True)
    return (q / np.where(total > 0, total, 1.0)).astype(np.float32)


@dataclass
class Baseline:
    """One face's baseline: the mean of its raw probabilities over `frames` frames seen from
    `start_s` to `end_s`."""

    mean: np.ndarray
    frames: int
    start_s: float
    end_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"mean": [round(float(v), 5) for v in self.mean], "frames": self.frames,
                "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], n_labels: int) -> Baseline:
        mean = np.asarray(data["mean"], dtype=np.float64)
        if mean.shape != (n_labels,) or not np.all(np.isfinite(mean)) or mean.min() < 0:
            raise ValueError("a baseline mean must hold one probability per label")
        return cls(mean, int(data["frames"]), float(data["start_s"]), float(data["end_s"]))


@dataclass
class _Collecting:
    """A baseline being measured: sums so far, and the window it is measured over."""

    start_s: float | None  # None: from the first frame the face is seen (live)
    end_s: float | None  # None: `seconds` after that first frame
    seconds: float = LIVE_SECONDS
    total: np.ndarray | None = None
    frames: int = 0
    first_s: float | None = None
    last_s: float | None = None

    def add(self, probs: np.ndarray, time_s: float) -> None:
        p = np.asarray(probs, dtype=np.float64)
        self.total = p.copy() if self.total is None else self.total + p
        self.frames += 1
        self.first_s = time_s if self.first_s is None else self.first_s
        self.last_s = time_s

    def baseline(self) -> Baseline | None:
        if self.total is None or self.first_s is None or self.last_s is None:
            return None
        return Baseline(self.total / self.frames, self.frames, self.first_s, self.last_s)


@dataclass
class FaceCalibrator:
    """The neutral baselines of the faces of one source, by face ID (see the module docstring).

    Feed it every processed frame with `apply(result)` (or each face with `observe`); it
    collects the baselines being measured and fills `calibrated` / `calibrated_smoothed` of each
    face it has a baseline of. Two ways to measure:

    - `collect_range(start_s, end_s)`: every face seen from `start_s` to `end_s` (seconds of the
      source) gets the mean of those frames; `finish_range()` (or the first frame after `end_s`)
      closes it.
    - `start(face_id, seconds)`: live, "this face is neutral now": the face's next `seconds`
      of frames (from the first one it is seen in); `state(face_id)` and `progress(face_id)`
      tell the UI how far it is.

    A face seen in fewer than `min_frames` frames of its window gets no baseline (`state` says
    "failed"). Not thread-safe: use it from the thread that runs the pipeline."""

    labels: tuple[str, ...]
    reference: Reference
    min_frames: int = MIN_FRAMES
    epsilon: float = EPSILON
    baselines: dict[int, Baseline] = field(default_factory=dict)
    range_s: tuple[float, float] | None = None
    _factors: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _live: dict[int, _Collecting] = field(default_factory=dict, repr=False)
    _range: dict[int, _Collecting] = field(default_factory=dict, repr=False)
    _range_open: bool = field(default=False, repr=False)
    _failed: dict[int, int] = field(default_factory=dict, repr=False)  # face -> frames it had

    @classmethod
    def for_bundle(cls, bundle: ModelBundle, **kwargs: Any) -> FaceCalibrator:
        """A calibrator for `bundle`'s labels, referenced to its `neutral_mean`."""
        return cls(tuple(bundle.labels), reference_for(bundle), **kwargs)

    # -- measuring --
    def collect_range(self, start_s: float, end_s: float) -> None:
        """Measure every face seen from `start_s` to `end_s` (inclusive)."""
        if not 0 <= start_s < end_s:
            raise EmotionLensError(f"a baseline range needs 0 <= start < end (got {start_s}-{end_s})")
        self.range_s = (float(start_s), float(end_s))
        self._range = {}
        self._range_open = True

    def finish_range(self) -> None:
        """Close the range: each face seen in enough of its frames gets its baseline."""
        if not self._range_open:
            return
        self._range_open = False
        for face_id, collecting in self._range.items():
            self._settle(face_id, collecting)
        self._range = {}

    def start(self, face_id: int, seconds: float = LIVE_SECONDS) -> None:
        """Live: take `face_id`'s next `seconds` of frames as its neutral baseline (replacing the
        one it has when done; it keeps the old one meanwhile)."""
        if not seconds > 0:
            raise EmotionLensError(f"a baseline needs a positive duration (got {seconds} s)")
        self._failed.pop(face_id, None)
        self._live[face_id] = _Collecting(None, None, seconds)

    def cancel(self, face_id: int) -> None:
        """Stop measuring `face_id` (a baseline it had stays)."""
        self._live.pop(face_id, None)

    def advance(self, time_s: float) -> None:
        """The source is at `time_s`: close the range once past its end, and finish each live
        measurement whose time is up (also for a face that left the picture)."""
        if self._range_open and self.range_s is not None and time_s > self.range_s[1]:
            self.finish_range()
        for face_id, live in list(self._live.items()):
            if live.first_s is not None and time_s - live.first_s >= live.seconds:
                del self._live[face_id]
                self._settle(face_id, live)

    def observe(self, face_id: int, probs: np.ndarray, time_s: float) -> None:
        """One frame of `face_id`'s raw probabilities, at `time_s` seconds of the source."""
        self.advance(time_s)
        if self._range_open and self.range_s is not None and time_s >= self.range_s[0]:
            self._range.setdefault(face_id, _Collecting(*self.range_s)).add(probs, time_s)
        live = self._live.get(face_id)
        if live is not None:
            live.add(probs, time_s)

    def apply(self, result: FrameResult) -> FrameResult:
        """Observe every face of `result`, then set `calibrated` (the raw probabilities
        corrected) and `calibrated_smoothed` (the smoothed ones corrected) of each face that has
        a baseline; the others keep None. Returns `result`, changed in place."""
        self.advance(result.time_s)
        for face in result.faces:
            self.observe(face.face_id, face.probs, result.time_s)
        for face in result.faces:
            factors = self._factors.get(face.face_id)
            if factors is not None:
                face.calibrated = correct(face.probs, factors)
                face.calibrated_smoothed = correct(face.smoothed, factors)
        return result

    def _settle(self, face_id: int, collecting: _Collecting) -> None:
        baseline = collecting.baseline()
        if baseline is None or baseline.frames < self.min_frames:
            self._failed[face_id] = baseline.frames if baseline is not None else 0
            return
        self.set_baseline(face_id, baseline)

    # -- baselines --
    def set_baseline(self, face_id: int, baseline: Baseline) -> None:
        self.baselines[face_id] = baseline
        self._factors[face_id] = correction(baseline.mean, self.reference.probs, self.epsilon)
        self._failed.pop(face_id, None)

    def forget(self, face_id: int) -> None:
        """Drop `face_id`'s baseline and any measurement of it."""
        self.baselines.pop(face_id, None)
        self._factors.pop(face_id, None)
        self._live.pop(face_id, None)
        self._range.pop(face_id, None)
        self._failed.pop(face_id, None)

    def reset(self) -> None:
        """Forget everything (a new source: face IDs start over)."""
        for face_id in list(self.baselines) + list(self._live) + list(self._failed):
            self.forget(face_id)
        self._range, self._range_open, self.range_s = {}, False, None

    def correct(self, face_id: int, probs: np.ndarray) -> np.ndarray | None:
        """`probs` of `face_id` corrected by its baseline; None when it has none."""
        factors = self._factors.get(face_id)
        return None if factors is None else correct(probs, factors)

    def factors(self, face_id: int) -> np.ndarray | None:
        return self._factors.get(face_id)

    def state(self, face_id: int) -> str:
        """"collecting", "calibrated", "failed" (too few frames in its window) or "none"."""
        if face_id in self._live or (self._range_open and face_id in self._range):
            return "collecting"
        if face_id in self.baselines:
            return "calibrated"
        return "failed" if face_id in self._failed else "none"

    def progress(self, face_id: int, now_s: float | None = None) -> float | None:
        """How far a live measurement of `face_id` is, 0..1 (at `now_s`, else at its latest
        frame); None when none is running."""
        live = self._live.get(face_id)
        if live is None:
            return None
        if live.first_s is None:
            return 0.0
        at = live.last_s if now_s is None else now_s
        return min(1.0, max(0.0, (at - live.first_s) / live.seconds))

    @property
    def failed(self) -> dict[int, int]:
        """Faces whose window closed with too few frames, and how many they had."""
        return dict(self._failed)

    def to_dict(self) -> dict[str, Any]:
        """What the run record and the JSON summary keep of the calibration."""
        return {
            "range_s": list(self.range_s) if self.range_s else None,
            "method": f"prior correction: p * (neutral_mean + {self.epsilon:g}) / "
                      f"(baseline + {self.epsilon:g}), renormalised",
            "reference": self.reference.to_dict(),
            "min_frames": self.min_frames,
            "faces": {str(fid): b.to_dict() for fid, b in sorted(self.baselines.items())},
            "too_few_frames": {str(fid): n for fid, n in sorted(self._failed.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], labels: Sequence[str]) -> FaceCalibrator:
        """The calibrator a record's `to_dict()` describes; ValueError when it is damaged."""
        try:
            ref = data["reference"]
            reference = Reference(np.asarray(ref["probs"], dtype=np.float64), str(ref["source"]))
            if reference.probs.shape != (len(labels),):
                raise ValueError("the reference must hold one probability per label")
            cal = cls(tuple(labels), reference, min_frames=int(data.get("min_frames", MIN_FRAMES)))
            rng = data.get("range_s")
            cal.range_s = (float(rng[0]), float(rng[1])) if rng else None
            for fid, entry in dict(data.get("faces", {})).items():
                cal.set_baseline(int(fid), Baseline.from_dict(entry, len(labels)))
            for fid, n in dict(data.get("too_few_frames", {})).items():
                cal._failed[int(fid)] = int(n)
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"damaged calibration ({type(exc).__name__}: {exc})") from None
        return cal


def parse_range(text: str, what: str = "--baseline") -> tuple[float, float]:
    """`START-END` in seconds ("2-5", "0.5-3", also "2..5") as (start, end); one line otherwise."""
    match = _RANGE.fullmatch(str(text))
    if match is None:
        raise EmotionLensError(f"{what} must be START-END in seconds, e.g. 0-3 (got {text!r})")
    start, end = float(match.group(1)), float(match.group(2))
    if not end > start:
        raise EmotionLensError(f"{what} {text}: the end must come after the start")
    return start, end


@dataclass(frozen=True)
class BaselineRanges:
    """Per-file baseline ranges (`batch --baseline ranges.csv`): a CSV with columns file, start,
    end (seconds), one row per file. `file` is a path (absolute, or relative to the CSV's folder)
    or a bare file name, which matches that name in any folder."""

    path: Path
    by_path: dict[Path, tuple[float, float]]
    by_name: dict[str, tuple[float, float]]

    def for_file(self, video: Path) -> tuple[float, float] | None:
        """The range for `video`: by its path first, else by its file name; None when the CSV
        has no row for it."""
        found = self.by_path.get(Path(video).resolve())
        return found if found is not None else self.by_name.get(Path(video).name)

    def __len__(self) -> int:
        return len(self.by_path) + len(self.by_name)


def read_ranges(path: Path) -> BaselineRanges:
    """Read a per-file ranges CSV (see `BaselineRanges`); every bad row is one line naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EmotionLensError(f"baseline ranges file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EmotionLensError(f"cannot read baseline ranges {path}: {exc}") from None
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if not {"file", "start", "end"} <= set(columns):
        raise EmotionLensError(f"{path}: baseline ranges need the columns file, start, end "
                               f"(got {', '.join(columns) or 'nothing'})")
    by_path: dict[Path, tuple[float, float]] = {}
    by_name: dict[str, tuple[float, float]] = {}
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()
               if isinstance(v, str)}
        name = row.get("file", "")
        if not name and not row.get("start") and not row.get("end"):
            continue  # a blank line
        where = f"{path} line {line}"
        if not name:
            raise EmotionLensError(f"{where}: no file name")
        try:
            start, end = float(row.get("start", "")), float(row.get("end", ""))
        except ValueError:
            raise EmotionLensError(f"{where}: start and end must be seconds "
                                   f"(got {row.get('start')!r}, {row.get('end')!r})") from None
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
            raise EmotionLensError(f"{where}: the range must have 0 <= start < end (got {start}-{end})")
        if "/" in name or "\\" in name:
            file = Path(name) if Path(name).is_absolute() else path.parent / name
            key: Path | str = file.resolve()
            table: dict[Any, tuple[float, float]] = by_path
        else:
            key, table = name, by_name
        if key in table:
            raise EmotionLensError(f"{where}: {name} has a range already")
        table[key] = (start, end)
    if not by_path and not by_name:
        raise EmotionLensError(f"{path}: no baseline ranges in it")
    return BaselineRanges(path, by_path, by_name)


def describe(calibration: Mapping[str, Any]) -> tuple[str, list[str]]:
    """One line on a calibration (`FaceCalibrator.to_dict()`), and warnings: faces seen in too
    few frames of the range, or none seen at all."""
    rng = calibration.get("range_s") or []
    where = f" {rng[0]:g}-{rng[1]:g} s" if len(rng) == 2 else ""
    faces = dict(calibration.get("faces") or {})
    few = dict(calibration.get("too_few_frames") or {})
    warnings = []
    if faces:
        parts = ", ".join(f"#{fid} ({entry.get('frames')} frames)" for fid, entry in faces.items())
        line = f"baseline{where}: {len(faces)} face{'s' * (len(faces) != 1)} calibrated: {parts}"
    else:
        line = f"baseline{where}: no face calibrated"
        warnings.append(f"no face was seen{where or ' in the baseline range'} in at least "
                        f"{calibration.get('min_frames', MIN_FRAMES)} frames: nothing is calibrated "
                        f"(the cal_ columns are empty)")
    if few:
        names = ", ".join(f"#{fid} ({n} frame{'s' * (n != 1)})" for fid, n in few.items())
        warnings.append(f"too few frames in the baseline for {names}: not calibrated")
    return line, warnings


__all__ = ["EPSILON", "LIVE_SECONDS", "MIN_FRAMES", "Baseline", "BaselineRanges", "FaceCalibrator",
           "Reference", "correct", "correction", "describe", "parse_range", "read_ranges",
           "reference_for", "reference_from_card"]
