"""Which decision prior a bundle needs so that every class is found: scored on half of val.

    python -m training.choose_prior --model BUNDLE [--label fear] [--factors 1.0-1.6]
                                    [--step 0.1] [--min-recall 0.45] [--flip] [--data DIR]

A prior of F on a label multiplies that label's probability by F and renormalizes the seven
(`training.export --class-prior LABEL=F` puts log F in the final layer's bias: no cost per face).
The bundle's float probabilities on the val faces are computed once; each factor is then scored
on the even-numbered faces (the choice's half): the chosen factor is the smallest whose every
class recall there reaches `--min-recall`. The odd-numbered half, never looked at by the choice,
and all of val show what it costs in accuracy and buys in macro-F1. Prints the table and the
export flag; exit status 2 with one line when no factor in the range reaches the floor.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from app.core import EmotionLensError
from training.choose_members import MIN_RECALL, check_min_recall, val_probabilities
from training.cli import Parser, one_line_errors


def with_prior(probs: np.ndarray, index: int, factor: float) -> np.ndarray:
    """`probs` with column `index` multiplied by `factor`, rows renormalized."""
    out = np.array(probs, dtype=np.float64, copy=True)
    out[:, index] *= factor
    return out / out.sum(axis=1, keepdims=True)


def factor_range(lo: float, hi: float, step: float) -> list[float]:
    """lo, lo + step, ..., hi (rounded to the step's decimals; hi included)."""
    if not (0 < lo <= hi) or step <= 0:
        raise EmotionLensError(f"factors must run from a positive low to a high at least as large, "
                               f"by a positive step (got {lo}-{hi} by {step})")
    n = round((hi - lo) / step)
    return [round(lo + i * step, 6) for i in range(n + 1)]


def score_factors(probs: np.ndarray, y: np.ndarray, labels: tuple[str, ...], label: str,
                  factors: list[float]) -> Any:
    """One row per factor: accuracy and every class's recall on the even-numbered faces, the
    lowest of those recalls, accuracy on the odd-numbered faces and on all, macro-F1 on all, and
    the label's recall on all."""
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score, recall_score

    index = labels.index(label)
    even = np.arange(len(y)) % 2 == 0
    classes = list(range(len(labels)))
    rows = []
    for factor in factors:
        pred = with_prior(probs, index, factor).argmax(1)
        recalls = recall_score(y[even], pred[even], labels=classes, average=None, zero_division=0)
        rows.append({
            "factor": factor,
            "even_accuracy": accuracy_score(y[even], pred[even]),
            "even_min_recall": float(recalls.min()),
            **{f"even_recall_{name}": float(r) for name, r in zip(labels, recalls, strict=True)},
            "odd_accuracy": accuracy_score(y[~even], pred[~even]),
            "accuracy": accuracy_score(y, pred),
            "macro_f1": f1_score(y, pred, labels=classes, average="macro", zero_division=0),
            f"{label}_recall": recall_score(y, pred, labels=[index], average=None,
                                            zero_division=0)[0],
        })
    return pd.DataFrame(rows)


def choose(table: Any, min_recall: float) -> Any:
    """The smallest factor whose every even-half recall reaches `min_recall`; None if none does."""
    ok = table[table["even_min_recall"] >= min_recall]
    return None if ok.empty else ok.sort_values("factor", kind="stable").iloc[0]


def _factors(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition("-")
    try:
        return float(lo), float(hi if sep else lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW-HIGH such as 1.0-1.6, got {text!r}") from None


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    p = Parser(prog="python -m training.choose_prior", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, metavar="BUNDLE", help="the bundle (its .keras file)")
    p.add_argument("--label", default="fear", help="the label the prior scales (default fear)")
    p.add_argument("--factors", type=_factors, default=(1.0, 1.6), metavar="LOW-HIGH",
                   help="factors tried, both ends included (default 1.0-1.6)")
    p.add_argument("--step", type=float, default=0.1, help="between factors (default 0.1)")
    p.add_argument("--min-recall", type=float, default=MIN_RECALL, metavar="R",
                   help=f"every class's recall on the even half must reach R (default {MIN_RECALL})")
    p.add_argument("--flip", action="store_true", help="score on the face and its mirror")
    p.add_argument("--data", help="dataset root with a val/ split (default: "
                                  "$EMOTION_LENS_SHARED/datasets/fer2013)")
    args = p.parse_args(argv)
    check_min_recall(args.min_recall)
    factors = factor_range(*args.factors, args.step)

    def has_label(bundles: list[Any]) -> None:
        if args.label not in bundles[0].labels:
            raise EmotionLensError(f"{args.model} has no label {args.label!r} "
                                   f"(its labels: {', '.join(bundles[0].labels)})")

    (bundle,), (probs,), y = val_probabilities([args.model], args.data, args.flip, check=has_label)
    table = score_factors(probs, y, tuple(bundle.labels), args.label, factors)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    best = choose(table, args.min_recall)
    if best is None:
        top = table.sort_values("even_min_recall", ascending=False).iloc[0]
        raise EmotionLensError(f"no factor in {factors[0]}-{factors[-1]} brings every class recall "
                               f"on the even half to {args.min_recall} (best: {top['factor']} gives "
                               f"{top['even_min_recall']:.3f}); widen --factors or lower --min-recall")
    print(f"chosen: {args.label}={best['factor']:g} (even half {best['even_accuracy']:.4f}, lowest "
          f"recall there {best['even_min_recall']:.3f}; odd half {best['odd_accuracy']:.4f}, all "
          f"{best['accuracy']:.4f}, macro-F1 {best['macro_f1']:.4f})")
    print(f"export with: --class-prior {args.label}={best['factor']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
