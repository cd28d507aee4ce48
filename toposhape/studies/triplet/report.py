"""The chapter "Manifold triplet learning" as a reader sees it, from results payloads only.

:func:`page_figures` gives every figure the page places (a note where results are
missing), :func:`tables` a payload's tables as DataFrames, :func:`setup`,
:func:`rules` and :func:`findings` its computed sentences, :func:`benchmark_table` whether
the reference's benchmarks are here, and :func:`claims` the chapter's rows of the
reproduction scorecard, each verdict computed by the rule stated beside it. A payload is
what :func:`toposhape.studies.triplet.run.run` returns, fresh or loaded with
:func:`toposhape.results.load_results`. Nothing here trains.
"""

import math
from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from toposhape.checks import check_callable, check_mapping
from toposhape.image_sets import IMAGE_SETS
from toposhape.studies import scorecard
from toposhape.studies.style import not_run
from toposhape.studies.triplet import summary
from toposhape.studies.triplet.figures import (
    DATASET_NAMES,
    figure_bytes,
    figure_compression,
    figure_curves,
    figure_embedding,
)
from toposhape.studies.triplet.protocol import (
    CHAPTER,
    NOISE_FACTOR,
    NOISE_FLOOR,
    PLATEAU_EPOCHS,
    PLATEAU_POINTS,
    TRAIN_CLASSES,
    compare,
    jobs,
    model_specs,
)

__all__ = [
    "FLOOR_QUESTION",
    "PAGE",
    "SATURATED",
    "WEAK",
    "benchmark_table",
    "claims",
    "findings",
    "page_figures",
    "rules",
    "setup",
    "tables",
    "training_seconds",
]

#: What the page shows: profile -> the figures it places (``<profile>-<key>``).
PAGE: dict[str, tuple[str, ...]] = {
    "full": ("bytes", "curves-headline", "curves-wide", "compression", "embedding-mnist",
             "embedding-fashion-mnist"),
    "tinyimagenet": ("bytes", "curves-headline", "curves-wide", "compression"),
}  # fmt: skip

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


def _name(dataset: str) -> str:
    return DATASET_NAMES.get(dataset, dataset)


def _pm(mean: float, std: float, digits: int = 1) -> str:
    """``"mean ± std"``, or the mean alone when there is no std (one seed)."""
    if isinstance(mean, float) and math.isnan(mean):
        return "–"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def _figure(payload: Mapping[str, Any], key: str) -> Figure | None:
    """The figure ``key`` of a payload, or None if the payload holds nothing for it."""
    if key.startswith("embedding-"):
        dataset = key.removeprefix("embedding-")
        found = [r for r in payload["models"] if r["dataset"] == dataset and "points" in r]
        return figure_embedding(dataset, min(found, key=lambda r: r["seed"])) if found else None
    if key == "compression":
        return figure_compression(payload) if payload["compression"] else None
    if not payload["models"]:
        return None
    if key == "bytes":
        return figure_bytes(payload)
    return figure_curves(payload, key.removeprefix("curves-"))


def page_figures(
    full: Mapping[str, Any] | None, tinyimagenet: Mapping[str, Any] | None
) -> dict[str, Figure]:
    """Every figure the page places, ``<profile>-<key>`` for the keys of :data:`PAGE`.

    Parameters
    ----------
    full : mapping or None
        The MNIST / Fashion-MNIST payload (the ``full`` profile, or ``smoke`` in its place).
    tinyimagenet : mapping or None
        The TinyImageNet payload.

    Returns
    -------
    dict
        A figure, or a one-line note where the payload is missing or holds nothing for it.
    """
    out = {}
    for profile, payload in (("full", full), ("tinyimagenet", tinyimagenet)):
        if payload is not None:
            check_mapping(profile, payload, "settings", "models", "compression")
        for key in PAGE[profile]:
            if payload is None:
                out[f"{profile}-{key}"] = not_run(
                    f"Not run yet: the {profile} profile has no saved results."
                )
                continue
            drawn = _figure(payload, key)
            out[f"{profile}-{key}"] = drawn or not_run(
                f"No finished run of the {payload['profile']} profile holds this figure yet."
            )
    return out


# ---------------------------------------------------------------------------
# Tables and sentences
# ---------------------------------------------------------------------------


def _retrieval_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Every read (mean ± std over seeds), then the floors (deterministic: no d, no std)."""
    rows = [
        *summary.cells(payload).to_dict("records"),
        *({**f, "d": "–", "R@1 std": math.nan} for f in summary.floors(payload).to_dict("records")),
    ]
    return pd.DataFrame(
        [
            {
                "dataset": _name(c["dataset"]),
                "d": c["d"],
                "model": c["label"],
                "bytes / vector": c["bytes"],
                "R@1 (%)": _pm(c["R@1"], c["R@1 std"]),
                "R@2 (%)": c["R@2"],
                "R@4 (%)": c["R@4"],
                "R@8 (%)": c["R@8"],
                "MAP@R (%)": c["MAP@R"],
            }
            for c in rows
        ]
    )


def _training_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    cells = summary.cells(payload)
    cells = cells[cells["read"] != "hard"]  # one row per model
    epochs = payload["settings"]["epochs"]
    return pd.DataFrame(
        [
            {
                "dataset": _name(c["dataset"]),
                "model": c["key"],
                "seeds": c["seeds"],
                f"epoch kept (of {epochs})": c["epochs kept"],
                "converged": f"{c['converged']} / {c['judged']}" if c["judged"] else "–",
                "min / model": c["minutes"],
            }
            for c in cells.to_dict("records")
        ]
    )


def _side(name: str, size: int, mean: float, std: float) -> str:
    return f"{name}, {size} B: {_pm(mean, std)}"


#: Median validation R@1 (%) at the kept epochs from which the validation split is called
#: saturated: within this of 100 %, it can hardly tell the epochs apart.
SATURATED = 95.0

#: Best validation R@1 (%) at the kept epochs below which a dataset's models are called
#: weak: no model retrieves a same-class first neighbour for half the queries even on the
#: classes it trained on.
WEAK = 50.0

#: The question of the rows that set the best model beside its floor (no rule applies).
FLOOR_QUESTION = "PCA floor (context)"


def _comparison_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The comparisons fixed before the runs, then the best model at every d against the
    PCA floor of its bytes (context: no margin, no verdict)."""
    rows = [
        {
            "dataset": _name(c["dataset"]),
            "d": c["d"],
            "question": c["question"],
            "A: R@1 (%)": _side(c["A"], c["bytes A"], c["A R@1"], c["A std"]),
            "B: R@1 (%)": _side(c["B"], c["bytes B"], c["B R@1"], c["B std"]),
            "A − B": c["difference"],
            "margin": c["margin"],
            "verdict": c["verdict"] if c["verdict"] != "pending" else f"pending ({c['seeds']})",
        }
        for c in summary.comparisons(payload).to_dict("records")
    ]
    rows += [
        {
            "dataset": _name(c["dataset"]),
            "d": c["d"],
            "question": FLOOR_QUESTION,
            "A: R@1 (%)": _side(c["model"], c["bytes"], c["R@1"], c["R@1 std"]),
            "B: R@1 (%)": _side(c["floor"], c["floor bytes"], c["floor R@1"], math.nan),
            "A − B": c["difference"],
            "margin": math.nan,
            "verdict": "no rule",
        }
        for c in summary.against_floor(payload).to_dict("records")
    ]
    return pd.DataFrame(rows)


def _compression_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    rows, exact_shown = [], set()
    for c in summary.stores(payload).to_dict("records"):
        if c["store"] == "float32":
            if c["dataset"] in exact_shown:
                continue
            exact_shown.add(c["dataset"])
        rows.append(
            {
                "dataset": _name(c["dataset"]),
                "store": c["store"],
                "settings": c["settings"],
                "bytes / vector": c["bytes"],
                "recall@10 (%)": _pm(c["recall@10"], c["recall@10 std"]),
                "class R@1 (%)": _pm(c["class R@1"], c["class R@1 std"]),
                "µs / query": c["µs / query"],
                "seeds": c["seeds"],
            }
        )
    return pd.DataFrame(rows)


def _data_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    rows, seen = [], set()
    for record in [*payload["models"], *payload["compression"]]:
        for split, data in record["data"].items():
            if (record["dataset"], split) in seen:
                continue
            seen.add((record["dataset"], split))
            rows.append(
                {
                    "dataset": _name(record["dataset"]),
                    "split": split,
                    "read from": data["source"],
                    "classes": data["classes"],
                    "images used": data["images"],
                }
            )
    order = ["train", "validation", "test", "database"]
    datasets = [_name(d) for d in payload["settings"]["datasets"]]
    rows.sort(key=lambda r: (datasets.index(r["dataset"]), order.index(r["split"])))
    return pd.DataFrame(rows)


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """A payload's tables: ``retrieval``, ``training``, ``comparisons``, ``compression``,
    ``data`` and ``timings``.

    Recalls in %; every R@1 beside the bytes per vector of its read (float32 = 4 bytes,
    a chart id in one byte for k ≤ 256); ``mean ± std`` over the training seeds. The
    retrieval table ends with the floors (d ``"–"``), the comparisons table with the best
    model at each d against the PCA floor of its bytes (question :data:`FLOOR_QUESTION`).
    """
    check_mapping("payload", payload, "settings", "models", "compression", "timings_s")
    return {
        "retrieval": _retrieval_table(payload),
        "training": _training_table(payload),
        "comparisons": _comparison_table(payload),
        "compression": _compression_table(payload),
        "data": _data_table(payload) if payload["models"] else pd.DataFrame(),
        "timings": pd.DataFrame(
            [{"phase": phase, "seconds": t} for phase, t in payload["timings_s"].items()]
        ),
    }


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
        f"{_name(d)}: classes 0–{TRAIN_CLASSES[d] - 1} train, the others are held out"
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
    head = f"{_name(c['dataset'])}, {at} = {c['d']}: {c['A']} ({c['bytes A']} B) " + (
        f"{_pm(c['A R@1'], c['A std'])} % vs {c['B']} ({c['bytes B']} B) "
        f"{_pm(c['B R@1'], c['B std'])} %"
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
        + ", ".join(f"{_name(d)} {m:.1f} %" for d, m in medians.items())
    )
    saturated = [_name(d) for d, m in medians.items() if m >= SATURATED]
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
            f"{_name(dataset)} {int(mine['converged'].eq(True).sum())} of {len(mine)}"
            for dataset, mine in groups
        ]
        text += f" ({', '.join(counts)})"
    if failed.empty:
        return text + "."
    names = ", ".join(
        f"{_name(r['dataset'])} {r['key']} (seed {r['seed']})" for r in failed.to_dict("records")
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
                f"{_name(dataset)}, k = {charts}, d = {dim}: atlas store {np.mean(atlas):.1f} % vs "
                f"{other} {np.mean(theirs):.1f} % recall@10 at the same bytes"
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
            lines.append(f"{_name(dataset)}: no finished model to set beside the floors yet.")
            continue
        parts = [
            f"{_at(c, wide)}: {c['model']} ({c['bytes']} B) {_pm(c['R@1'], c['R@1 std'])} % "
            f"vs {c['floor']} ({c['floor bytes']} B) {c['floor R@1']:.1f} % "
            f"({c['difference']:+.1f} points)"
            for c in mine
        ]
        above = sum(c["difference"] > 0 for c in mine)
        text = (
            f"{_name(dataset)}, the best model at each dimension against the PCA floor of its "
            f"bytes: {'; '.join(parts)}; above its floor at {above} of the {len(mine)} "
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
    text = f"{_name(dataset)}, every trained read against the floors: "
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
        name = _name(dataset)
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


def benchmark_table(status: Mapping[str, str]) -> pd.DataFrame:
    """:func:`~toposhape.studies.triplet.run.benchmark_status` as a table."""
    check_mapping("status", status)
    return pd.DataFrame({"benchmark": list(status), "on this machine": list(status.values())})


# ---------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------


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
        parts.setdefault(_name(r["dataset"]), []).append(
            f"{'D' if r['question'] == '64-d study' else 'd'} = {r['d']}: {r['A']} − {r['B']} "
            f"{r['difference']:+.1f} (margin {r['margin']:.1f})"
        )
    return "; ".join(f"{name} {', '.join(items)}" for name, items in parts.items())


def _all_or_noise(wins: pd.Series, losses: pd.Series) -> str:
    """``partly`` if A wins every comparison, ``not reproduced`` if B wins one, else ``within
    noise`` (no comparison lost, some too close to call)."""
    return "partly" if wins.all() else "not reproduced" if losses.any() else "within noise"


def _low_d(payloads: list[Mapping[str, Any]]) -> tuple[str | None, str]:
    rows = _judged(payloads, "equal dimension")
    if rows.empty:
        return None, "–"
    verdict = _all_or_noise(rows["verdict"] == "A wins", rows["verdict"] == "B wins")
    return verdict, "R@1 points, " + _differences(rows)


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


def _wide(payloads: list[Mapping[str, Any]]) -> tuple[str | None, str]:
    rows = _judged(payloads, "64-d study")
    if rows.empty:
        return None, "–"
    verdict = _all_or_noise(rows["verdict"] == "A wins", rows["verdict"] == "B wins")
    return verdict, "R@1 points, " + _differences(rows)


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
        parts.append(f"{_name(dataset)} ({full} B float32) {items}")
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
        f"{_name(d)} (classes 0–{TRAIN_CLASSES[d] - 1} train, the rest held out)"
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
        _low_d,
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
        _wide,
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
