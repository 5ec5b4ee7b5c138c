"""Which members make the best ensemble: every subset of candidate bundles, scored on half of val.

    python -m training.choose_members --members BUNDLE [BUNDLE ...] [--flip] [--min-recall 0.45]
                                      [--max-members N] [--data DIR] [--csv OUT.csv]

Each candidate's probabilities on the validation faces (and, with `--flip`, on their mirrors) are
computed once; every subset's ensemble is then their mean, as `training.ensemble` builds it (the
face read at each member's own input size). The choice is made on the even-numbered val faces
only: the subset with the best accuracy there among those whose every class recall there is at
least `--min-recall` (ties: fewer members). The odd-numbered half, never looked at by the choice,
shows how much of the chosen subset's lead is real. Prints the table of the best subsets and the
`training.ensemble` command that builds the chosen one; `--csv` writes every subset's row.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from app.core import EmotionLensError
from training.cli import Parser, log, one_line_errors

MIN_RECALL = 0.45  # the models issue's floor for every class


def member_probabilities(bundle: Any, model: Any, val: Any, flip: bool) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities on the val faces `val`, read at the bundle's input size and channels,
    averaged with their mirrors' with `flip`; labels)."""
    from training.ensemble import as_probabilities

    x = (val.x.astype(np.float32) - bundle.input.mean) / bundle.input.std
    if x.ndim == 3:
        x = x[..., None]
    net = as_probabilities(model, "member")
    views = [x, np.ascontiguousarray(x[:, :, ::-1])] if flip else [x]
    probs = np.mean([net.predict(v, batch_size=256, verbose=0) for v in views], axis=0)
    return probs.astype(np.float64), np.asarray(val.y)


def check_min_recall(value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise EmotionLensError(f"--min-recall must be between 0 and 1 (got {value})")


def val_probabilities(paths: list[str], data: str | None, flip: bool,
                      check: Callable[[list[Any]], None] | None = None,
                      ) -> tuple[list[Any], list[np.ndarray], np.ndarray]:
    """(the bundles at `paths`, each one's `member_probabilities` on the val faces of `data`
    (default: FER2013 in the shared folder), val labels). The faces are read once per input size
    and channels; `check` sees the bundles before anything is predicted."""
    from training.ensemble import load_members, load_split
    from training.paths import fer2013_dir

    root = Path(data) if data else fer2013_dir()
    if not root.is_dir():
        raise EmotionLensError(f"dataset folder not found: {root} (give --data)")
    bundles, models = load_members(paths)
    if check is not None:
        check(bundles)
    probs, y = [], None
    reads: dict[tuple[int, int], Any] = {}
    for path, bundle, model in zip(paths, bundles, models, strict=True):
        log(f"val probabilities of {path}{' and its mirror' if flip else ''}")
        shape = (bundle.input.size, bundle.input.channels)
        if shape not in reads:
            reads[shape] = load_split(root, "val", bundle)
        pr, yy = member_probabilities(bundle, model, reads[shape], flip)
        if y is not None and not np.array_equal(y, yy):
            raise EmotionLensError(f"{path} read the val faces in another order or number")
        probs.append(pr)
        y = yy
    assert y is not None
    return bundles, probs, y


def score_subsets(probs: list[np.ndarray], y: np.ndarray, names: list[str],
                  max_members: int | None = None) -> Any:
    """One row per nonempty subset (members in the order given): its accuracy and lowest class
    recall on the even-numbered faces (the choice's half), the odd-numbered ones and all, and
    its macro-F1 on all."""
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    even = np.arange(len(y)) % 2 == 0
    labels = list(range(probs[0].shape[1]))
    rows = []
    top = max_members or len(probs)
    for k in range(1, min(top, len(probs)) + 1):
        for subset in combinations(range(len(probs)), k):
            pred = np.mean([probs[i] for i in subset], axis=0).argmax(1)
            rows.append({
                "members": " + ".join(names[i] for i in subset),
                "n": k,
                "even_accuracy": accuracy_score(y[even], pred[even]),
                "even_min_recall": recall_score(y[even], pred[even], labels=labels, average=None,
                                                zero_division=0).min(),
                "odd_accuracy": accuracy_score(y[~even], pred[~even]),
                "accuracy": accuracy_score(y, pred),
                "macro_f1": f1_score(y, pred, labels=labels, average="macro", zero_division=0),
                "subset": subset,
            })
    return pd.DataFrame(rows)


def choose(table: Any, min_recall: float) -> Any:
    """The chosen row: best even-half accuracy with every even-half recall ≥ `min_recall`; on a
    tie the higher lowest recall there, then fewer members; None when no subset passes the floor."""
    ok = table[table["even_min_recall"] >= min_recall]
    if ok.empty:
        return None
    return ok.sort_values(["even_accuracy", "even_min_recall", "n"], ascending=[False, False, True],
                          kind="stable").iloc[0]


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    p = Parser(prog="python -m training.choose_members", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", nargs="+", required=True, metavar="BUNDLE",
                   help="candidate bundles (same labels, channels, normalization and crops)")
    p.add_argument("--flip", action="store_true", help="score each member on the face and its mirror")
    p.add_argument("--min-recall", type=float, default=MIN_RECALL, metavar="R",
                   help=f"every class's recall on the even half must reach R (default {MIN_RECALL})")
    p.add_argument("--max-members", type=int, default=None, metavar="N",
                   help="largest subset to score (default: all the candidates)")
    p.add_argument("--data", help="dataset root with a val/ split (default: "
                                  "$EMOTION_LENS_SHARED/datasets/fer2013)")
    p.add_argument("--csv", type=Path, default=None, metavar="OUT.csv", help="every subset's row")
    p.add_argument("--top", type=int, default=10, metavar="N", help="rows printed (default 10)")
    args = p.parse_args(argv)
    check_min_recall(args.min_recall)
    if args.max_members is not None and args.max_members < 1:
        raise EmotionLensError("--max-members must be at least 1")
    if len(set(args.members)) != len(args.members):
        raise EmotionLensError("a candidate is given twice in --members")
    if args.csv is not None and args.csv.exists():
        raise EmotionLensError(f"{args.csv} exists: give another --csv (nothing is overwritten)")
    _, probs, y = val_probabilities(args.members, args.data, args.flip)
    table = score_subsets(probs, y, list(args.members), args.max_members)
    shown = table.drop(columns="subset").sort_values("even_accuracy", ascending=False)
    print(shown.head(args.top).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.csv is not None:
        shown.to_csv(args.csv, index=False)
        log(f"wrote {args.csv} ({len(shown)} subsets)")
    best = choose(table, args.min_recall)
    if best is None:
        raise EmotionLensError(f"no subset has every class recall on the even half at "
                               f"{args.min_recall} or more (lower --min-recall)")
    chosen = [args.members[i] for i in best["subset"]]
    print(f"chosen: {best['members']} (even half {best['even_accuracy']:.4f}, odd half "
          f"{best['odd_accuracy']:.4f}, all {best['accuracy']:.4f})")
    print("build it: python -m training.ensemble --members " + " ".join(chosen)
          + (" --flip" if args.flip else "") + " --out DIR")
    return 0


if __name__ == "__main__":
    sys.exit(main())
