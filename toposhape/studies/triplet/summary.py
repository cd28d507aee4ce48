"""The triplet study's numbers across training seeds: one row per read, the comparisons.

A payload (what :func:`toposhape.studies.triplet.run.run` returns) holds one record per
(dataset, seed, model). :func:`scores` lays them out one row per (dataset, model, read,
seed); :func:`cells` averages over the seeds; :func:`comparisons` applies the noise rule
(:func:`~toposhape.studies.triplet.protocol.compare`) to the comparisons fixed before the
runs (:func:`pairs`); :func:`stores` averages the compression study over seeds;
:func:`floors` lays out the trivial floors (pixels, PCA of pixels) and
:func:`beside_floors` sets every read beside the PCA floor of its bytes and the pixels,
:func:`against_floor` the best read at each d.
Plain numbers only: no figures, no text.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

import pandas as pd

from toposhape.checks import check_mapping
from toposhape.studies.triplet.protocol import ModelSpec, compare, floor_width, model_specs

__all__ = [
    "MIN_SEEDS",
    "Pair",
    "against_floor",
    "beside_floors",
    "cells",
    "comparisons",
    "floor_label",
    "floors",
    "label",
    "pairs",
    "scores",
    "stores",
]

#: Seeds each side of a comparison needs before the noise rule gives a verdict.
MIN_SEEDS = 3

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_WIDE = {"wide-normalised": "normalised", "wide-unnormalised": "unnormalised", "wide-mmd": "MMD"}


def label(spec: ModelSpec, read: str) -> str:
    """How tables and figures name a read of a model (e.g. ``"atlas k = 8, hard"``)."""
    if spec.key in _WIDE:
        return _WIDE[spec.key]
    if spec.kind == "euclidean":
        if spec.key.startswith("sphere-k"):
            return f"sphere, {spec.width} floats"
        return f"sphere S{str(spec.d).translate(_SUPERSCRIPT)}"
    if spec.charts == 1:
        return "one chart"
    return f"atlas k = {spec.charts}, {read}"


def _spec(record: Mapping[str, Any]) -> ModelSpec:
    return ModelSpec(**record["spec"])


def scores(payload: Mapping[str, Any]) -> pd.DataFrame:
    """One row per (dataset, model, read, seed) of the payload's finished models.

    Columns: ``dataset``, ``key``, ``read``, ``label``, ``group``, ``d``, ``charts``,
    ``bytes``, ``seed``, ``R@1``, ``R@2``, ``R@4``, ``R@8``, ``MAP@R`` (all in %),
    ``epoch`` (the kept one), ``epochs``, ``converged``, ``minutes`` (training).
    """
    check_mapping("payload", payload, "models")
    rows = []
    for record in payload["models"]:
        spec = _spec(record)
        for read, metrics in record["metrics"].items():
            rows.append(
                {
                    "dataset": record["dataset"],
                    "key": spec.key,
                    "read": read,
                    "label": label(spec, read),
                    "group": spec.group,
                    "d": spec.d,
                    "charts": spec.charts,
                    "bytes": record["bytes"][read],
                    "seed": record["seed"],
                    **{f"R@{k}": 100 * metrics[f"recall_at_{k}"] for k in (1, 2, 4, 8)},
                    "MAP@R": 100 * metrics["mean_average_precision_at_r"],
                    "epoch": record["selected_epoch"],
                    "epochs": len(record["history"]),
                    "converged": record["converged"],
                    "minutes": record["training_seconds"] / 60,
                }
            )
    columns = [
        *("dataset", "key", "read", "label", "group", "d", "charts", "bytes", "seed"),
        *("R@1", "R@2", "R@4", "R@8", "MAP@R", "epoch", "epochs", "converged", "minutes"),
    ]
    return pd.DataFrame(rows, columns=columns)


def cells(payload: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`scores` averaged over seeds: one row per (dataset, model, read).

    Columns: the identifying ones of :func:`scores`, ``seeds`` (how many), the mean of
    every metric and ``R@1 std`` (sample std over seeds, NaN for one seed), ``converged``
    (how many seeds met the plateau criterion), ``judged`` (how many had enough epochs to
    be judged by it) and ``epochs kept`` (e.g. ``"3, 5, 8"``).
    """
    frame = scores(payload)
    keys = ["dataset", "key", "read", "label", "group", "d", "charts", "bytes"]
    if frame.empty:
        return pd.DataFrame(columns=[*keys, "seeds", "R@1", "R@1 std"])
    grouped = frame.groupby(keys, sort=False)
    out = grouped[["R@1", "R@2", "R@4", "R@8", "MAP@R", "minutes"]].mean()
    out["R@1 std"] = grouped["R@1"].std(ddof=1)
    out["seeds"] = grouped["seed"].nunique()
    out["converged"] = grouped["converged"].agg(lambda c: int((c == True).sum()))  # noqa: E712
    out["judged"] = grouped["converged"].agg(lambda c: int(c.notna().sum()))
    out["epochs kept"] = grouped["epoch"].agg(lambda e: ", ".join(str(int(v)) for v in e))
    return out.reset_index()


class Pair(NamedTuple):
    """A comparison fixed before the runs: read ``a_read`` of model ``a`` against ``b``'s.

    ``question`` names what it tests (e.g. ``"equal dimension"``).
    """

    question: str
    a: str
    a_read: str
    b: str
    b_read: str


def pairs(settings: Mapping[str, Any]) -> list[Pair]:
    """The comparisons of a profile, at every d of its grid and in the 64-d study.

    At every d, with K the most charts: the atlas (soft read) against the sphere S^d
    (equal dimension, the reference's comparison) and against the sphere with as many
    floats (equal storage); the atlas's hard read (chart id + d floats) against S^d
    (d + 1 floats: 3 bytes more); the one-chart model against S^d where the grid has it.
    At D = ``wide_dim``: the MMD model against the normalised and the unnormalised one.
    """
    specs = {spec.key: spec for spec in model_specs(settings)}
    top = max(settings["charts"])
    out = []
    for d in sorted(settings["dims"]):
        atlas, sphere = f"atlas-k{top}-d{d}", f"sphere-d{d}"
        if top > 1:
            out += [
                Pair("equal dimension", atlas, "soft", sphere, "euclidean"),
                Pair("equal storage", atlas, "soft", f"sphere-k{top}-d{d}", "euclidean"),
                Pair("equal storage", atlas, "hard", sphere, "euclidean"),
            ]
        if f"atlas-k1-d{d}" in specs and top > 1:
            out.append(Pair("one chart", f"atlas-k1-d{d}", "soft", sphere, "euclidean"))
    out += [
        Pair("64-d study", "wide-mmd", "soft", "wide-normalised", "euclidean"),
        Pair("64-d study", "wide-mmd", "soft", "wide-unnormalised", "soft"),
    ]
    return out


def comparisons(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Every :func:`pairs` comparison on every dataset, judged by the noise rule.

    Columns: ``dataset``, ``question``, ``d``, ``A``, ``B`` (labels), ``bytes A``,
    ``bytes B``, ``A R@1``, ``B R@1`` (means, %), ``A std``, ``B std``, ``seeds``
    (``"3 / 3"``), ``difference``, ``margin`` (points) and ``verdict``: ``"A wins"``,
    ``"B wins"``, ``"within noise"``, or ``"pending"`` while either side has fewer than
    :data:`MIN_SEEDS` seeds (the numbers are then those of the seeds so far).
    """
    check_mapping("payload", payload, "settings", "models")
    frame = scores(payload)
    specs = {spec.key: spec for spec in model_specs(payload["settings"])}
    rows = []
    for dataset in payload["settings"]["datasets"]:
        for pair in pairs(payload["settings"]):
            sides = []
            for key, read in ((pair.a, pair.a_read), (pair.b, pair.b_read)):
                mine = frame[
                    (frame["dataset"] == dataset) & (frame["key"] == key) & (frame["read"] == read)
                ].sort_values("seed")
                sides.append(mine["R@1"].tolist())
            a, b = sides
            row = {
                "dataset": dataset,
                "question": pair.question,
                "d": specs[pair.a].d,
                "A": label(specs[pair.a], pair.a_read),
                "B": label(specs[pair.b], pair.b_read),
                "bytes A": specs[pair.a].bytes(pair.a_read),
                "bytes B": specs[pair.b].bytes(pair.b_read),
                "A R@1": sum(a) / len(a) if a else float("nan"),
                "B R@1": sum(b) / len(b) if b else float("nan"),
                "A std": pd.Series(a, dtype=float).std(ddof=1),
                "B std": pd.Series(b, dtype=float).std(ddof=1),
                "seeds": f"{len(a)} / {len(b)}",
                "difference": float("nan"),
                "margin": float("nan"),
                "verdict": "pending",
            }
            if min(len(a), len(b)) >= MIN_SEEDS:
                judged = compare(a, b)
                row |= {k: judged[k] for k in ("difference", "margin", "verdict")}
            rows.append(row)
    return pd.DataFrame(rows)


def stores(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The compression study averaged over seeds: one row per (dataset, k, d, store).

    Columns: ``dataset``, ``charts``, ``dim``, ``store`` (``atlas``, ``PCA + 8-bit``,
    ``PQ``, ``float32``), ``settings`` (seed 0's, or the first seed's), ``bytes``,
    ``seeds``, ``recall@10`` and ``class R@1`` (mean and std over seeds, %) and
    ``µs / query`` (mean).
    """
    check_mapping("payload", payload, "compression")
    rows = []
    for record in payload["compression"]:
        for row in record["rows"]:
            rows.append(
                {
                    "dataset": record["dataset"],
                    "charts": row["charts"],
                    "dim": row["dim"],
                    "store": row["method"].split(" (")[0],
                    "settings": row["settings"],
                    "bytes": row["bytes_per_vector"],
                    "seed": record["seed"],
                    "recall@10": 100 * row["recall_at_10"],
                    "class R@1": 100 * row["class_recall_at_1"],
                    "µs / query": 1e6 * row["seconds_per_query"],
                }
            )
    columns = [
        *("dataset", "charts", "dim", "store", "settings", "bytes", "seeds"),
        *("recall@10", "recall@10 std", "class R@1", "class R@1 std", "µs / query"),
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["dataset", "charts", "dim", "store"], sort=False)
    out = grouped[["recall@10", "class R@1", "µs / query"]].mean()
    out["recall@10 std"] = grouped["recall@10"].std(ddof=1)
    out["class R@1 std"] = grouped["class R@1"].std(ddof=1)
    out["seeds"] = grouped["seed"].nunique()
    out["settings"] = grouped["settings"].first()
    out["bytes"] = grouped["bytes"].max()
    return out.reset_index()[columns]


def floor_label(floor: str, floats: int) -> str:
    """How tables and figures name a floor (e.g. ``"PCA of pixels, 24 floats"``)."""
    return f"PCA of pixels, {floats} floats" if floor == "pca" else f"pixels, {floats} floats"


_METRICS = ("R@1", "R@2", "R@4", "R@8", "MAP@R")


def floors(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The payload's floors (no training, so no seeds): one row per (dataset, floor).

    Columns: ``dataset``, ``floor`` (``pixels`` or ``pca``), ``label``
    (:func:`floor_label`), ``floats``, ``bytes``, ``R@1``, ``R@2``, ``R@4``, ``R@8``,
    ``MAP@R`` and ``explained variance`` (of the training pixels; NaN for the pixels), all
    in %. Empty for a payload saved before the floors were recorded (no ``floors``).
    """
    check_mapping("payload", payload)
    rows = []
    for dataset, record in (payload.get("floors") or {}).items():
        for row in record["rows"]:
            metrics = row["metrics"]
            rows.append(
                {
                    "dataset": dataset,
                    "floor": row["floor"],
                    "label": floor_label(row["floor"], row["floats"]),
                    "floats": row["floats"],
                    "bytes": row["bytes"],
                    **{f"R@{k}": 100 * metrics[f"recall_at_{k}"] for k in (1, 2, 4, 8)},
                    "MAP@R": 100 * metrics["mean_average_precision_at_r"],
                    "explained variance": 100 * row.get("explained_variance", float("nan")),
                }
            )
    columns = ["dataset", "floor", "label", "floats", "bytes", *_METRICS, "explained variance"]
    return pd.DataFrame(rows, columns=columns)


def beside_floors(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Every read of every d (and D) of every dataset beside the floors of its dataset.

    A read's PCA floor is the PCA of pixels to
    :func:`~toposhape.studies.triplet.protocol.floor_width` of its bytes (the fewest whole
    floats storing at least as much); context only, no noise rule applies.

    Columns: ``dataset``, ``d``, ``model`` (label), ``bytes``, ``R@1``, ``R@1 std``,
    ``seeds`` (of the read, mean over seeds), ``floor`` (label), ``floor bytes``, ``floor
    R@1``, ``difference`` (read − floor, points) and ``pixels R@1`` (all the pixels; NaN if
    the floors hold none), in the order of :func:`cells`. No row for a dataset without
    floors or finished models.
    """
    check_mapping("payload", payload, "settings", "models")
    mine, floors_ = cells(payload), floors(payload)
    rows = []
    for dataset in payload["settings"]["datasets"]:
        own = floors_[floors_["dataset"] == dataset]
        widths = own[own["floor"] == "pca"].set_index("floats")
        if widths.empty:
            continue
        pixels = own.loc[own["floor"] == "pixels", "R@1"]
        for read in mine[mine["dataset"] == dataset].to_dict("records"):
            floor = widths.loc[floor_width(int(read["bytes"]))]
            rows.append(
                {
                    "dataset": dataset,
                    "d": int(read["d"]),
                    "model": read["label"],
                    "bytes": int(read["bytes"]),
                    "R@1": read["R@1"],
                    "R@1 std": read["R@1 std"],
                    "seeds": int(read["seeds"]),
                    "floor": floor["label"],
                    "floor bytes": int(floor["bytes"]),
                    "floor R@1": floor["R@1"],
                    "difference": read["R@1"] - floor["R@1"],
                    "pixels R@1": pixels.iloc[0] if len(pixels) else float("nan"),
                }
            )
    columns = [
        *("dataset", "d", "model", "bytes", "R@1", "R@1 std", "seeds"),
        *("floor", "floor bytes", "floor R@1", "difference", "pixels R@1"),
    ]
    return pd.DataFrame(rows, columns=columns)


def against_floor(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The best read at every d (and D) of every dataset beside the PCA floor of its bytes.

    The best read is the one with the highest mean R@1 over its seeds among every model
    and read of that d (the first on ties); its floor as in :func:`beside_floors`.
    Context only: no noise rule applies.

    Columns: those of :func:`beside_floors` but ``pixels R@1``, one row per (dataset, d).
    """
    every = beside_floors(payload)
    best = every.loc[every.groupby(["dataset", "d"], sort=False)["R@1"].idxmax()]
    order = {d: i for i, d in enumerate(payload["settings"]["datasets"])}
    best = best.assign(order=best["dataset"].map(order)).sort_values(["order", "d"])
    return best.drop(columns=["order", "pixels R@1"]).reset_index(drop=True)
