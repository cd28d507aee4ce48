"""The triplet chapter's computed sentences, from a results payload alone (no training).

:func:`setup` (the recipe, the grid, what it cost and what is pending), :func:`rules` (the
noise rule and the convergence criterion as fixed before the runs) and :func:`findings`
(the comparisons, the floors, how far the models trained at all, epoch noise and
convergence, and the compressed stores, by topic), each from the numbers of
:mod:`.summary`.
"""

import math
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from toposhape.checks import check_mapping
from toposhape.image_sets import IMAGE_SETS
from toposhape.studies.triplet import summary
from toposhape.studies.triplet.protocol import (
    NOISE_FACTOR,
    NOISE_FLOOR,
    PLATEAU_EPOCHS,
    PLATEAU_POINTS,
    TRAIN_CLASSES,
    compare,
    jobs,
    model_specs,
)
from toposhape.studies.triplet.text import dataset_name, plus_minus

__all__ = ["SATURATED", "WEAK", "findings", "rules", "setup"]

#: Median validation R@1 (%) at the kept epochs from which the validation split is called
#: saturated: within this of 100 %, it can hardly tell the epochs apart.
SATURATED = 95.0

#: Best validation R@1 (%) at the kept epochs below which a dataset's models are called
#: weak: no model retrieves a same-class first neighbour for half the queries even on the
#: classes it trained on.
WEAK = 50.0


def setup(payload: Mapping[str, Any]) -> str:
    """One Markdown paragraph: the recipe, the grid and what it cost, and what is pending."""
    check_mapping("payload", payload, "settings", "models", "pending")
    s = payload["settings"]
    total = len(jobs([payload["profile"]]))
    done = total - len(payload["pending"])
    minutes = sum(r["training_seconds"] for r in payload["models"]) / 60
    per_model = minutes / len(payload["models"]) if payload["models"] else float("nan")
    steps = len(payload["models"]) * s["epochs"] * s["steps_per_epoch"]
    per_step = 60e3 * minutes / steps if steps else float("nan")
    evaluating = sum(h["eval_seconds"] for r in payload["models"] for h in r["history"]) / 60
    compressing = sum(r["seconds"] for r in payload["compression"]) / 60
    splits = "; ".join(
        f"{dataset_name(d)}: classes 0–{TRAIN_CLASSES[d] - 1} train, the others are held out"
        for d in s["datasets"]
    )
    text = (
        f"**Recipe.** Every model: `SmallConvNet` of width {s['backbone_width']} from scratch, "
        f"{s['epochs']} epochs of {s['steps_per_epoch']} batches of {s['classes_per_batch']} "
        f"classes × {s['per_class']} images, {s['optimiser']} {s['lr']:g}, triplet margin 0.2 "
        f"over all valid triplets; seeds {', '.join(map(str, s['seeds']))} (initial weights, "
        f"batches, MMD draws; the images are the same for every seed). {splits}. "
        f"**Grid.** d ∈ {{{', '.join(map(str, s['dims']))}}} with k ∈ "
        f"{{{', '.join(map(str, s['charts']))}}} charts and D = {s['wide_dim']}: "
        f"{len(model_specs(s))} models and one compression study per dataset and seed. "
        f"**Done.** {done} of {total} jobs; their training steps took {minutes:.0f} min in "
        f"all ({per_model:.1f} min per model, {per_step:.0f} ms per batch), the "
        f"evaluations after every epoch {evaluating:.0f} min and the compression studies "
        f"{compressing:.0f} min: {(minutes + evaluating + compressing) / 60:.1f} h, summed "
        "over the epochs whichever run trained them, niced on 2 CPU cores shared with other "
        "jobs."
    )
    if payload["pending"]:
        shown = ", ".join(payload["pending"][:12])
        more = f" and {len(payload['pending']) - 12} more" if len(payload["pending"]) > 12 else ""
        text += f" **Pending** (not trained when these numbers were collected): {shown}{more}."
    return text


def rules() -> str:
    """The verdict rule and the convergence criterion, as fixed in code before the runs."""
    return (
        f"**Noise rule** (fixed before the runs): A beats B when the difference of their mean "
        f"held-out R@1 over the training seeds exceeds both {NOISE_FACTOR:g} × the pooled seed "
        f"standard deviation √((s_A² + s_B²)/2) and {NOISE_FLOOR:g} point; otherwise they are "
        f"within noise. A comparison waits for {summary.MIN_SEEDS} seeds on each side. "
        f"**Convergence criterion**: a model has converged when its best validation R@1 of "
        f"the last {PLATEAU_EPOCHS} epochs is at most {PLATEAU_POINTS:g} point above its best "
        f"before them (early stopping with a patience of {PLATEAU_EPOCHS} epochs would have "
        "stopped by the end of the budget). The model kept is the epoch with the best "
        "validation R@1, on images of the *training* classes that no model trains on."
    )


def _comparison_line(c: Mapping[str, Any]) -> str:
    at = "D" if c["question"] == "64-d study" else "d"
    head = f"{dataset_name(c['dataset'])}, {at} = {c['d']}: {c['A']} ({c['bytes A']} B) " + (
        f"{plus_minus(c['A R@1'], c['A std'])} % vs {c['B']} ({c['bytes B']} B) "
        f"{plus_minus(c['B R@1'], c['B std'])} %"
    )
    if c["verdict"] == "pending":
        return f"{head}: pending (seeds {c['seeds']})."
    return (
        f"{head}: {c['difference']:+.1f} points, noise margin {c['margin']:.1f}: "
        f"**{_verdict_words(c['verdict'], c['A'], c['B'])}**."
    )


def _verdict_words(verdict: str, a: str, b: str) -> str:
    """A noise-rule verdict with the winner named: ``"sphere S² wins"``, ``"within noise"``."""
    return {"A wins": f"{a} wins", "B wins": f"{b} wins"}.get(verdict, verdict)


def _epoch_noise(payload: Mapping[str, Any]) -> str:
    """How far held-out R@1 moves from one epoch to the next, against the seeds' spread."""
    steps = []
    for record in payload["models"]:
        read = next(iter(record["metrics"]))
        curve = [100 * h[f"test_{read}_recall_at_1"] for h in record["history"]]
        half = curve[len(curve) // 2 :]
        steps += [abs(b - a) for a, b in pairwise(half)]
    spread = summary.cells(payload)["R@1 std"].dropna()
    if not steps:
        return "No finished model has enough epochs to see how R@1 moves between them."
    text = (
        f"From one epoch to the next in the second half of training, held-out R@1 moves by "
        f"{np.median(steps):.1f} points (median over every model and epoch; 90th percentile "
        f"{np.percentile(steps, 90):.1f})"
    )
    if len(spread):
        text += (
            f", while the training seeds' standard deviation at the kept epoch is "
            f"{spread.median():.1f} points (median over models)"
        )
    medians = {
        dataset: float(np.median([100 * _kept(r)["validation_recall_at_1"] for r in records]))
        for dataset, records in _by_dataset(payload).items()
    }
    text += (
        ": a one-epoch, one-seed difference of that size says nothing. The validation R@1 "
        "(training classes) at the kept epochs has a median of "
        + ", ".join(f"{dataset_name(d)} {m:.1f} %" for d, m in medians.items())
    )
    saturated = [dataset_name(d) for d, m in medians.items() if m >= SATURATED]
    if saturated:
        text += (
            f"; on {' and '.join(saturated)} it is within {100 - SATURATED:g} points of 100 %, "
            "where it can hardly tell the epochs apart: the kept epoch is partly a draw"
        )
    return text + "."


def _kept(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The history entry of a model record's kept epoch."""
    return record["history"][record["selected_epoch"] - 1]


def _by_dataset(payload: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """The finished model records of every dataset that has some, in the profile's order."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for dataset in payload["settings"]["datasets"]:
        mine = [r for r in payload["models"] if r["dataset"] == dataset]
        if mine:
            out[dataset] = mine
    return out


def _convergence(payload: Mapping[str, Any]) -> str:
    scores = summary.scores(payload)
    if scores.empty:
        return "No model has finished yet."
    models = scores.drop_duplicates(["dataset", "key", "seed"])
    judged = models[models["converged"].notna()]
    if judged.empty:
        return (
            f"No finished model trained more than {PLATEAU_EPOCHS} epochs: too few to judge "
            "convergence."
        )
    failed = judged[judged["converged"] != True]  # noqa: E712
    text = f"{len(judged) - len(failed)} of {len(judged)} finished models met the plateau criterion"
    groups = judged.groupby("dataset", sort=False)
    if groups.ngroups > 1:
        counts = [
            f"{dataset_name(dataset)} {int(mine['converged'].eq(True).sum())} of {len(mine)}"
            for dataset, mine in groups
        ]
        text += f" ({', '.join(counts)})"
    if failed.empty:
        return text + "."
    names = ", ".join(
        f"{dataset_name(r['dataset'])} {r['key']} (seed {r['seed']})"
        for r in failed.to_dict("records")
    )
    return f"{text}; still improving at the end of the budget: {names}."


def _store_lines(payload: Mapping[str, Any]) -> list[str]:
    """The atlas store against the faiss stores of the same bytes, by the noise rule."""
    lines = []
    by_seed: dict[tuple[str, int, int, str], list[float]] = {}
    for record in payload["compression"]:
        for row in record["rows"]:
            key = (record["dataset"], row["charts"], row["dim"], row["method"].split(" (")[0])
            by_seed.setdefault(key, []).append(100 * row["recall_at_10"])
    for (dataset, charts, dim, store), atlas in by_seed.items():
        if store != "atlas":
            continue
        for other in ("PCA + 8-bit", "PQ"):
            theirs = by_seed.get((dataset, charts, dim, other), [])
            part = (
                f"{dataset_name(dataset)}, k = {charts}, d = {dim}: atlas store "
                f"{np.mean(atlas):.1f} % vs {other} {np.mean(theirs):.1f} % recall@10 at the "
                "same bytes"
            )
            if min(len(atlas), len(theirs)) < summary.MIN_SEEDS:
                lines.append(f"{part}: pending (seeds: {len(atlas)} / {len(theirs)}).")
            else:
                judged = compare(atlas, theirs)
                verdict = _verdict_words(judged["verdict"], "atlas store", other)
                lines.append(
                    f"{part}: {judged['difference']:+.1f} points, margin "
                    f"{judged['margin']:.1f}: **{verdict}**."
                )
    return lines


def _at(c: Mapping[str, Any], wide: int) -> str:
    """``"d = 2"``, or ``"D = 64"`` for the 64-d study."""
    return f"{'D' if c['d'] == wide else 'd'} = {c['d']}"


def _floor_lines(payload: Mapping[str, Any]) -> list[str]:
    """Per dataset: the best read at every d against the PCA floor of its bytes; then
    every read against the pixels and against the PCA floor of its own bytes."""
    floors = summary.floors(payload)
    if floors.empty:
        return [
            "These results were saved before the floors (PCA of pixels) were recorded; "
            "running the chapter again adds them."
        ]
    best, every = summary.against_floor(payload), summary.beside_floors(payload)
    wide = payload["settings"]["wide_dim"]
    lines = []
    for dataset in payload["settings"]["datasets"]:
        mine = best[best["dataset"] == dataset].to_dict("records")
        if not mine:
            lines.append(
                f"{dataset_name(dataset)}: no finished model to set beside the floors yet."
            )
            continue
        parts = [
            f"{_at(c, wide)}: {c['model']} ({c['bytes']} B) {plus_minus(c['R@1'], c['R@1 std'])} % "
            f"vs {c['floor']} ({c['floor bytes']} B) {c['floor R@1']:.1f} % "
            f"({c['difference']:+.1f} points)"
            for c in mine
        ]
        above = sum(c["difference"] > 0 for c in mine)
        text = (
            f"{dataset_name(dataset)}, the best model at each dimension against the PCA floor "
            f"of its bytes: {'; '.join(parts)}; above its floor at {above} of the {len(mine)} "
            "dimensions"
        )
        if above:
            top = max(c["difference"] for c in mine)
            text += f", by {top:.1f} points at most"
            if top <= NOISE_FLOOR:
                text += f" (the noise rule never calls {NOISE_FLOOR:g} point or less a win)"
        lines.append(text + ".")
        pixels = floors[(floors["dataset"] == dataset) & (floors["floor"] == "pixels")]
        reads = every[every["dataset"] == dataset]
        lines.append(_every_read_line(dataset, reads, pixels.to_dict("records"), wide))
    return lines


def _every_read_line(
    dataset: str, reads: pd.DataFrame, pixels: list[Mapping[str, Any]], wide: int
) -> str:
    """Every read of a dataset (rows of :func:`summary.beside_floors`) against the pixels
    and against the PCA floor of its bytes, naming the smaller of the groups above and
    below their floor."""
    n = len(reads)
    best = reads.loc[reads["R@1"].idxmax()]
    text = f"{dataset_name(dataset)}, every trained read against the floors: "
    for p in pixels:
        beat = int((reads["R@1"] > p["R@1"]).sum())
        who = (
            f"none of the {n} trained reads does as well"
            if beat == 0
            else f"{beat} of the {n} trained reads do better"
        )
        text += (
            f"the L2-normalised pixels themselves ({p['floats']} floats, {p['bytes']} B) reach "
            f"{p['R@1']:.1f} %, and {who} (the best: {best['model']} at {_at(best, wide)}, "
            f"{best['R@1']:.1f} %). "
        )
    floor_wins = reads["difference"] < 0
    text += (
        f"PCA of the pixels in the bytes of a read does better than {int(floor_wins.sum())} of "
        f"the {n}"
    )
    group, where = (
        (reads[~floor_wins], "above") if (~floor_wins).sum() <= floor_wins.sum() else
        (reads[floor_wins], "below")
    )  # fmt: skip
    if len(group):
        items = "; ".join(
            f"{r['model']} at {_at(r, wide)} ({r['bytes']} B, {r['difference']:+.1f} points)"
            for r in group.to_dict("records")
        )
        text += f"; the reads {where} their PCA floor: {items}"
    return (
        f"{text} (read − floor from {reads['difference'].min():+.1f} to "
        f"{reads['difference'].max():+.1f} points)."
    )


def _limit_lines(payload: Mapping[str, Any]) -> list[str]:
    """Per dataset: how far its models trained at all: the span of held-out R@1 against a
    random ranking, the validation R@1 at the kept epochs (training classes), the triplet
    term of the last epoch against the margin, and how many comparisons have the noise
    rule's floor as their margin."""
    cells, frame = summary.cells(payload), summary.comparisons(payload)
    lines = []
    for dataset, records in _by_dataset(payload).items():
        name = dataset_name(dataset)
        recall = cells.loc[cells["dataset"] == dataset, "R@1"]
        held_out = IMAGE_SETS[dataset] - TRAIN_CLASSES[dataset]
        validation = [100 * _kept(r)["validation_recall_at_1"] for r in records]
        triplet = [r["history"][-1]["triplet"] for r in records]
        margin = records[0]["config"]["margin"]
        text = (
            f"{name}: the trained reads' held-out R@1 spans {recall.min():.1f}–"
            f"{recall.max():.1f} % (a random ranking: about {100 / held_out:.1f} %, one of "
            f"{held_out} held-out classes); on the training classes themselves (validation "
            f"R@1 at the kept epochs) the models reach {min(validation):.1f}–"
            f"{max(validation):.1f} %; the triplet term of the loss, which pml averages over "
            f"the triplets still inside the margin, ends training at {min(triplet):.3f}–"
            f"{max(triplet):.3f}, against the margin {margin:g}, its value when an anchor's "
            "positive and negative are equally far."
        )
        if max(validation) < WEAK:
            text += (
                f" No model retrieves a same-class first neighbour for {WEAK:g} % of the "
                "queries even among the classes it trained on: the networks are far from "
                f"trained, every comparison on {name} is between weak models, and its "
                "verdicts say little about a trained metric. At R@1 values this small the "
                f"noise rule's floor ({NOISE_FLOOR:g} point) and the plateau criterion "
                f"({PLATEAU_POINTS:g} point in {PLATEAU_EPOCHS} epochs) are coarse."
            )
        judged = frame[(frame["dataset"] == dataset) & (frame["verdict"] != "pending")]
        at_floor = int((judged["margin"] <= NOISE_FLOOR).sum())
        if at_floor:
            text += (
                f" {at_floor} of its {len(judged)} comparisons have the noise rule's floor of "
                f"{NOISE_FLOOR:g} point as their margin (twice their pooled seed standard "
                "deviation is smaller)."
            )
        lines.append(text)
    return lines


def findings(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """Computed sentences, by topic: ``equal dimension``, ``equal storage``, ``one chart``,
    ``64-d study`` (one line per comparison), ``floors`` (two lines per dataset: the best
    model at each d against the PCA-of-pixels floor of its bytes; every read against the
    pixels and the PCA floor of its bytes), ``limits`` (one line per dataset: how far its
    models trained at all, see :data:`WEAK`), ``training`` (epoch noise, convergence) and
    ``compression`` (the atlas store against faiss at equal bytes)."""
    check_mapping("payload", payload, "settings", "models", "compression")
    frame = summary.comparisons(payload)
    out: dict[str, list[str]] = {}
    for question in ("equal dimension", "equal storage", "one chart", "64-d study"):
        mine = frame[frame["question"] == question] if len(frame) else frame
        out[question] = [
            _comparison_line(c)
            for c in mine.to_dict("records")
            if not (math.isnan(c["A R@1"]) or math.isnan(c["B R@1"]))  # a side not trained yet
        ]
    out["floors"] = _floor_lines(payload)
    out["limits"] = _limit_lines(payload)
    out["training"] = [_epoch_noise(payload), _convergence(payload)]
    out["compression"] = _store_lines(payload)
    return out
