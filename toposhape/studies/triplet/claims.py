"""The scorecard's rows for the claims of Korman's blog post that the triplet chapter tests.

Every verdict is computed from the ``full`` and ``tinyimagenet`` payloads by the rule
stated in its row, never typed in; comparisons without their seeds count as missing.
:func:`training_seconds` is the training time the scorecard adds to the results runs.
"""

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from toposhape.checks import check_callable
from toposhape.studies import scorecard
from toposhape.studies.triplet import summary
from toposhape.studies.triplet.protocol import CHAPTER, TRAIN_CLASSES
from toposhape.studies.triplet.text import dataset_name

__all__ = ["claims", "training_seconds"]

_REFERENCE = (
    "CUB-200-2011 and Stanford Cars, retrieval on the held-out half of the classes; "
    "ImageNet-pretrained GoogLeNet fine-tuned with RMSprop 1e-5, batches of 8 classes × 4 "
    "images, 300 epochs"
)
_STORE_REFERENCE = "a proposed application: the source runs no experiment"
_CAP = (
    "stand-in data and a small CNN trained from scratch cap the verdict at partly; "
    f"comparisons need {summary.MIN_SEEDS} seeds per side"
)


def _judged(payloads: list[Mapping[str, Any]], question: str) -> pd.DataFrame:
    """Rows of ``question`` with a verdict (enough seeds), over the payloads."""
    frames = [summary.comparisons(p) for p in payloads]
    frame = pd.concat([f for f in frames if len(f)], ignore_index=True) if frames else None
    if frame is None or frame.empty:
        return pd.DataFrame(columns=["verdict"])
    return frame[(frame["question"] == question) & (frame["verdict"] != "pending")]


def _differences(rows: pd.DataFrame) -> str:
    parts = {}
    for r in rows.to_dict("records"):
        parts.setdefault(dataset_name(r["dataset"]), []).append(
            f"{'D' if r['question'] == '64-d study' else 'd'} = {r['d']}: {r['A']} − {r['B']} "
            f"{r['difference']:+.1f} (margin {r['margin']:.1f})"
        )
    return "; ".join(f"{name} {', '.join(items)}" for name, items in parts.items())


def _all_or_noise(wins: pd.Series, losses: pd.Series) -> str:
    """``partly`` if A wins every comparison, ``not reproduced`` if B wins one, else ``within
    noise`` (no comparison lost, some too close to call)."""
    return "partly" if wins.all() else "not reproduced" if losses.any() else "within noise"


def _everywhere(question: str) -> Callable[[list[Mapping[str, Any]]], tuple[str | None, str]]:
    """The measure of a claim that A beats B in every comparison of ``question``
    (verdict by :func:`_all_or_noise`; None while no comparison has its seeds)."""

    def measure(payloads: list[Mapping[str, Any]]) -> tuple[str | None, str]:
        rows = _judged(payloads, question)
        if rows.empty:
            return None, "–"
        verdict = _all_or_noise(rows["verdict"] == "A wins", rows["verdict"] == "B wins")
        return verdict, "R@1 points, " + _differences(rows)

    return measure


def _equal_storage(payloads: list[Mapping[str, Any]]) -> tuple[str | None, str]:
    rows = _judged(payloads, "equal storage")
    if rows.empty:
        return None, "–"
    cells = rows.groupby(["dataset", "d"])["verdict"]
    wins = cells.agg(lambda v: (v == "A wins").any())  # with one of its reads
    losses = cells.agg(lambda v: (v == "B wins").all())  # with both
    return _all_or_noise(wins, losses), "R@1 points, " + _differences(rows)


def _one_chart(payloads: list[Mapping[str, Any]]) -> tuple[str | None, str]:
    rows = _judged(payloads, "one chart")
    if rows.empty:
        return None, "–"
    helps = (rows["verdict"] == "A wins").any()
    return ("not reproduced" if helps else "partly"), "R@1 points, " + _differences(rows)


def _stores(payloads: list[Mapping[str, Any]]) -> pd.DataFrame:
    frames = [summary.stores(p) for p in payloads]
    frame = pd.concat([f for f in frames if len(f)], ignore_index=True) if frames else None
    if frame is None or frame.empty:
        return pd.DataFrame(columns=["seeds"])
    return frame[frame["seeds"] >= summary.MIN_SEEDS]


def _store_recall(payloads: list[Mapping[str, Any]]) -> tuple[str | None, str]:
    frame = _stores(payloads)
    if frame.empty:
        return None, "–"
    holds, parts = True, []
    for dataset, mine in frame.groupby("dataset", sort=False):
        full = mine.loc[mine["store"] == "float32", "bytes"].max()
        atlas = mine[mine["store"] == "atlas"]
        small = atlas[8 * atlas["bytes"] <= full]
        holds &= bool((small["recall@10"] >= 50).any())
        best = {
            store: mine[mine["store"] == store].set_index("bytes")["recall@10"]
            for store in ("atlas", "PCA + 8-bit", "PQ")
        }
        items = ", ".join(
            f"{b} B: atlas {best['atlas'][b]:.1f} / PCA {best['PCA + 8-bit'].get(b, math.nan):.1f}"
            f" / PQ {best['PQ'].get(b, math.nan):.1f}"
            for b in best["atlas"].index
        )
        parts.append(f"{dataset_name(dataset)} ({full} B float32) {items}")
    return ("partly" if holds else "not reproduced"), "recall@10 (%), " + "; ".join(parts)


def _store_speed(payloads: list[Mapping[str, Any]]) -> tuple[str | None, str]:
    frame = _stores(payloads)
    if frame.empty:
        return None, "–"
    ratios, faiss, recalls = [], [], []
    for _, mine in frame.groupby(["dataset", "charts", "dim"], sort=False):
        mine = mine.set_index("store")
        seconds = mine["µs / query"]
        ratios.append(seconds["atlas"] / seconds["float32"])
        faiss += [seconds[s] / seconds["float32"] for s in ("PCA + 8-bit", "PQ") if s in seconds]
        recalls.append(mine.loc["atlas", "recall@10"])
    faster = sum(r < 1 for r in ratios)
    measured = (
        f"atlas store's time per query / exact search's: {min(ratios):.2f}–{max(ratios):.2f}; "
        f"faster in {faster} of {len(ratios)} (dataset, k, d) configurations, at a recall@10 "
        f"of {min(recalls):.1f}–{max(recalls):.1f} %"
    )
    if faiss:
        measured += (
            f"; the same ratio for the faiss stores of the same bytes: "
            f"{min(faiss):.2f}–{max(faiss):.2f}"
        )
    return ("partly" if faster == len(ratios) else "not reproduced"), measured


def _data(payloads: list[Mapping[str, Any]]) -> str:
    names = [
        f"{dataset_name(d)} (classes 0–{TRAIN_CLASSES[d] - 1} train, the rest held out)"
        for p in payloads
        for d in p["settings"]["datasets"]
    ]
    return "stand-ins for CUB-200 and Cars: " + ", ".join(names)


def _budget(payloads: list[Mapping[str, Any]]) -> str:
    parts = []
    for p in payloads:
        s = p["settings"]
        parts.append(
            f"{p['profile']}: {s['epochs']} × {s['steps_per_epoch']} batches of "
            f"{s['classes_per_batch']} × {s['per_class']}, {s['optimiser']} {s['lr']:g}, "
            f"SmallConvNet width {s['backbone_width']} from scratch, seeds {s['seeds']}"
        )
    return "; ".join(parts)


def _seeds(payloads: list[Mapping[str, Any]]) -> int:
    """The fewest training seeds with a finished model, over the payloads that have one."""
    done = [len({r["seed"] for r in p["models"]}) for p in payloads if p["models"]]
    return min(done, default=0)


_CLAIMS: tuple[tuple[str, str, str, Callable, str], ...] = (
    (
        "In low dimensions (d ≤ 8) the manifold triplet model clearly beats vanilla "
        "(normalised) triplet training in Recall@n on CUB-200 and Stanford Cars.",
        "Partly if, on every dataset and at every d of the grid, the atlas with the most "
        "charts (soft read) beats the sphere S^d in held-out R@1 by the noise rule; not "
        "reproduced if the sphere beats it somewhere; within noise otherwise (no loss, some "
        f"differences inside the noise margin) ({_CAP}).",
        "triplet-low-d",
        _everywhere("equal dimension"),
        _REFERENCE,
    ),
    (
        "With an atlas one can get away with a much smaller d than in the Euclidean set-up, "
        "a benefit for data compression.",
        "Partly if, on every dataset and at every d, the atlas beats a sphere that stores at "
        "least as many bytes by the noise rule with one of its reads: the soft read against "
        "the sphere of k(d + 1) floats, or the hard read (chart id + d floats) against S^d "
        "(d + 1 floats); not reproduced if at some d both reads lose; within noise otherwise "
        f"({_CAP}).",
        "triplet-equal-storage",
        _equal_storage,
        _REFERENCE,
    ),
    (
        "At these low dimensions, adding only the MMD term to triplet training (one chart) "
        "does not help.",
        "Partly if the one-chart model beats the sphere S^d by the noise rule on no dataset "
        f"at no d; not reproduced if it does somewhere ({_CAP}).",
        "triplet-low-d",
        _one_chart,
        _REFERENCE,
    ),
    (
        "At 64 dimensions, adding the MMD term alone to triplet training (one chart, no "
        "normalisation) gives a large R@1 gain over both the normalised baseline and the "
        "unnormalised model.",
        "Partly if, on every dataset, the MMD model beats both other 64-d models by the "
        "noise rule; not reproduced if one of them beats it; within noise otherwise "
        f"({_CAP}).",
        "triplet-wide",
        _everywhere("64-d study"),
        _REFERENCE,
    ),
    (
        "Storing a vector as its chart id and its chart coordinates gives massive "
        "compression without sacrificing significant retrieval quality.",
        "Partly if, on every dataset, some atlas store of at most 1/8 of the float32 bytes "
        f"keeps at least 50 % recall@10 (mean over {summary.MIN_SEEDS} seeds); not "
        f"reproduced otherwise ({_CAP}; faiss stores of the same bytes are shown beside it).",
        "triplet-compression",
        _store_recall,
        _STORE_REFERENCE,
    ),
    (
        "The atlas store trades a little recall for faster queries than the uncompressed vectors.",
        "Partly if, on every dataset and in every (k, d) configuration, the atlas store's "
        "mean single-threaded time per query is below exact float32 search's; not "
        f"reproduced otherwise ({_CAP}).",
        "triplet-compression",
        _store_speed,
        _STORE_REFERENCE,
    ),
)


def training_seconds(load: scorecard.Loader) -> float:
    """Seconds the training command spent on the saved profiles (``full``, ``tinyimagenet``).

    The models train ahead of the chapter's results run (``python -m
    toposhape.studies.triplet.run train ...``); their records keep the time of every
    epoch's training steps and evaluations, and the compression studies their own, which
    the landing page adds to the results runs' wall time.
    """
    check_callable("load", load)
    total = 0.0
    for profile in ("full", "tinyimagenet"):
        payload = load(profile) or {"models": [], "compression": []}
        for record in payload["models"]:
            total += sum(h["seconds"] + h["eval_seconds"] for h in record["history"])
        total += sum(record["seconds"] for record in payload["compression"])
    return total


def claims(load: scorecard.Loader) -> list[scorecard.Claim]:
    """The chapter's rows of the reproduction scorecard, from the ``full`` and
    ``tinyimagenet`` results (whichever exist; "not run yet" while no comparison has
    its seeds).

    Parameters
    ----------
    load : callable
        ``load(profile)``: the chapter's saved payload at a profile, or None.
    """
    check_callable("load", load)
    payloads = [p for p in (load("full"), load("tinyimagenet")) if p is not None]
    found = []
    for claim, rule, section, measure, reference in _CLAIMS:
        verdict, measured = measure(payloads) if payloads else (None, "–")
        known = verdict is not None
        found.append(
            scorecard.Claim(
                source="korman",
                claim=claim,
                verdict=verdict if known else "not run yet",
                rule=rule,
                measured=measured,
                anchor="",
                data=_data(payloads) if known else "–",
                budget=_budget(payloads) if known else "–",
                reference=reference,
                seeds=_seeds(payloads) if known else 0,
                chapter=CHAPTER,
                section=section,
            )
        )
    return found
