"""The identity of an annotation run, recorded beside its CSV, so that `--resume` continues only
the run that CSV holds.

`<csv>.run.json` names the input (its path, and the size and modification time of each file it
reads), the settings that change results (all but `threads`), the model (name, backend and a
SHA-256 of model.json and the model file used), and the outputs the run writes. A resume compares
the identity of the new run with it and refuses a mismatch in one line naming what differs; the
outputs it lists are the only existing files a resume may rebuild without `--overwrite`.

The record's `run` part describes the run for people and for `emotion-lens report` (compared by
nothing): what wrote it (`annotate`, or the app's Record), when it started and finished, the
source (path, kind, frame size, fps, frame count), the model (name, folder, backend and its
card's accuracy), the detector, every setting, the labels, the frames done and the neutral
baseline with each face's mean, when one was set. The app's Record writes the same file beside
its CSV (`live_identity`: no input files to check, it cannot be resumed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app import __version__
from app.core import EmotionLensError
from app.core.outputs import input_files
from app.core.results import write_json

if TYPE_CHECKING:
    from app.core.classify import Classifier
    from app.core.settings import PipelineSettings

RECORD_SUFFIX = ".run.json"
_NOT_RESULTS = ("threads", "backend")  # threads: same results; backend: recorded as resolved


def record_path(csv: Path) -> Path:
    return csv.with_name(csv.name + RECORD_SUFFIX)


def _model_digest(classifier: Classifier) -> str:
    digest = hashlib.sha256()
    model_file = classifier.bundle.file(classifier.backend)
    for path in (classifier.bundle.path / "model.json", model_file):
        if path is not None:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()


def run_identity(source: Path, settings: PipelineSettings, classifier: Classifier,
                 baseline: tuple[float, float] | None = None) -> dict[str, Any]:
    """What makes two runs the same run (JSON-ready); a neutral baseline range is one of the
    options (absent when none is set, so that records from before it still match)."""
    files = {}
    for path in input_files(source):
        st = path.stat()
        files[path.name] = [st.st_size, st.st_mtime_ns]
    options = {k: v for k, v in settings.to_dict().items() if k not in _NOT_RESULTS}
    if baseline is not None:
        options["baseline"] = list(baseline)
    return {
        "input": {"path": str(source.resolve()), "files": files},
        "options": options,
        "model": {"name": classifier.bundle.name, "backend": classifier.backend,
                  "sha256": _model_digest(classifier)},
    }


def live_identity(source: str, settings: PipelineSettings | None, classifier: Classifier | None,
                  ) -> dict[str, Any]:
    """The identity of a live recording (a camera, or a file played in the app): shaped like
    `run_identity`'s, with no input files (`--resume` refuses to continue it: another input)."""
    return {
        "input": {"path": source, "files": {}},
        "options": ({k: v for k, v in settings.to_dict().items() if k not in _NOT_RESULTS}
                    if settings is not None else {}),
        "model": ({"name": classifier.bundle.name, "backend": classifier.backend,
                   "sha256": _model_digest(classifier)} if classifier is not None else {}),
    }


def now_iso() -> str:
    """This moment as ISO 8601 with the local UTC offset, to the second."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def card_accuracy(classifier: Classifier) -> dict[str, Any]:
    """What the model card says of the model's accuracy: overall, macro-F1, that of the file in
    use (e.g. int8) when the card has it, and on what split."""
    metrics = classifier.bundle.metrics
    out = {k: metrics[k] for k in ("accuracy", "macro_f1", "split", "n") if k in metrics}
    for key in (f"{classifier.backend}_accuracy", f"{classifier.backend}_macro_f1"):
        if key in metrics:
            out[key] = metrics[key]
    selected = classifier.bundle.provenance.get("selected_on")
    if isinstance(selected, str):
        out["selected_on"] = selected
    return out


def run_details(kind: str, source: str, source_kind: str, *, classifier: Classifier | None = None,
                settings: PipelineSettings | None = None, detector: str | None = None,
                labels: tuple[str, ...] | None = None, fps: float | None = None,
                frame_size: tuple[int, int] | None = None, frame_count: int | None = None,
                ) -> dict[str, Any]:
    """The record's `run` part at the start of a run (see the module docstring); `kind` is
    "annotate" or "record", `source_kind` "video", "image", "folder" or "camera"."""
    model = None
    if classifier is not None:
        model = {"name": classifier.bundle.name, "path": str(classifier.bundle.path.resolve()),
                 "backend": classifier.backend, "card": card_accuracy(classifier)}
        labels = labels or classifier.labels
    return {
        "kind": kind,
        "started": now_iso(),
        "source": {"path": source, "kind": source_kind, "fps": fps,
                   "frame_size": list(frame_size) if frame_size else None, "frame_count": frame_count},
        "model": model,
        "detector": detector,
        "settings": settings.to_dict() if settings is not None else None,
        "labels": list(labels) if labels else None,
        "baseline": None,
    }


def _names(kind: str, names: list[str], limit: int = 3) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{kind} {', '.join(names[:limit])}{more}"


def _part(identity: dict[str, Any], key: str) -> dict[str, Any]:
    value = identity.get(key)
    return value if isinstance(value, dict) else {}  # a hand-edited record: all of it differs


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two identities, in words (empty: the same run)."""
    new = json.loads(json.dumps(new))  # compare as stored: lists, not tuples
    out: list[str] = []
    old_in, new_in = _part(old, "input"), new["input"]
    if old_in.get("path") != new_in["path"]:
        out.append(f"input {new_in['path']} instead of {old_in.get('path')}")
    else:
        before, now = _part(old_in, "files"), new_in["files"]
        kinds = (("added", sorted(set(now) - set(before))),
                 ("removed", sorted(set(before) - set(now))),
                 ("changed", sorted(n for n in set(now) & set(before) if now[n] != before[n])))
        parts = [_names(kind, names) for kind, names in kinds if names]
        if parts and Path(new_in["path"]).is_dir():
            out.append(f"files of the input folder {'; '.join(parts)}")
        elif parts:
            out.append(f"the input {new_in['path']} changed (size or modification time)")
    old_opts, new_opts = _part(old, "options"), new["options"]
    for key in sorted(set(old_opts) | set(new_opts)):
        if old_opts.get(key) != new_opts.get(key):
            out.append(f"{key} {new_opts.get(key)} instead of {old_opts.get(key)}")
    old_model, new_model = _part(old, "model"), new["model"]
    if old_model.get("name") != new_model["name"]:
        out.append(f"model {new_model['name']!r} instead of {old_model.get('name')!r}")
    elif old_model.get("backend") != new_model["backend"]:
        out.append(f"backend {new_model['backend']} instead of {old_model.get('backend')}")
    elif old_model.get("sha256") != new_model["sha256"]:
        out.append("the model's files changed")
    return out


def read_record(csv: Path) -> dict[str, Any]:
    """The record of the run `csv` holds; one line when it is missing or damaged."""
    path = record_path(csv)
    again = "start again without --resume (and with --overwrite)"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EmotionLensError(f"cannot resume {csv}: there is no record of its run ({path.name}) "
                               f"to check it is the same run; {again}") from None
    except (ValueError, UnicodeDecodeError):
        record = None
    if not (isinstance(record, dict) and isinstance(record.get("identity"), dict)
            and isinstance(record.get("outputs"), list)):
        raise EmotionLensError(f"cannot resume {csv}: the record of its run ({path}) is damaged; "
                               f"{again}")
    return record


def resumable_outputs(csv: Path) -> list[Path]:
    """The files a resume of `csv` may rebuild: those of its run (none when there is no CSV,
    and nothing to resume)."""
    if not csv.is_file():
        return []
    return [Path(p) for p in read_record(csv)["outputs"] if isinstance(p, str)]


def check_same_run(csv: Path, identity: dict[str, Any]) -> None:
    diffs = differences(read_record(csv)["identity"], identity)
    if diffs:
        raise EmotionLensError(f"cannot resume {csv}: it holds another run ({'; '.join(diffs)}); "
                               f"start again without --resume (and with --overwrite)")


def write_record(csv: Path, identity: dict[str, Any], outputs: list[Path],
                 resumed: bool = False, run: dict[str, Any] | None = None) -> None:
    """Record the run beside `csv` (atomically); a resume adds its outputs to the run's, and
    keeps when the run first started (`run.started`), listing when it was resumed."""
    names = [str(p.resolve()) for p in outputs]
    if resumed:
        old = read_record(csv)
        names = [p for p in old["outputs"] if p not in names] + names
        before = old.get("run")
        if run is not None and isinstance(before, dict) and isinstance(before.get("started"), str):
            resumes = before.get("resumed") if isinstance(before.get("resumed"), list) else []
            run = {**run, "started": before["started"], "resumed": [*resumes, run["started"]]}
    record: dict[str, Any] = {"emotion_lens_version": __version__, "identity": identity,
                              "outputs": names}
    if run is not None:
        record["run"] = run
    write_json(record_path(csv), record)


def update_run(csv: Path, **fields: Any) -> None:
    """Add `fields` to the `run` part of `csv`'s record (the end of a run: frames done,
    `finished`, the baseline measured); nothing when there is no readable record."""
    path = record_path(csv)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return
    if not isinstance(record, dict):
        return
    run = record.get("run") if isinstance(record.get("run"), dict) else {}
    record["run"] = {**run, **fields}
    write_json(path, record)


def load_record(csv: Path) -> tuple[dict[str, Any] | None, str]:
    """The record beside `csv` for reading (the report), never raising: (record, "") or (None,
    why there is none: missing or damaged)."""
    path = record_path(csv)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no record of the run beside the CSV ({path.name})"
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return None, f"the record of the run ({path.name}) cannot be read ({type(exc).__name__})"
    if not isinstance(record, dict):
        return None, f"the record of the run ({path.name}) is damaged"
    return record, ""


__all__ = ["RECORD_SUFFIX", "card_accuracy", "check_same_run", "differences", "live_identity",
           "load_record", "now_iso", "read_record", "record_path", "resumable_outputs",
           "run_details", "run_identity", "update_run", "write_record"]
