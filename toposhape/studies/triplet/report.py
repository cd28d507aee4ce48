"""The chapter "Manifold triplet learning" as a reader sees it, from results payloads only.

:func:`page_figures` gives every figure the page places (a note where results are
missing), :func:`tables` a payload's tables as DataFrames, :func:`benchmark_table` whether
the reference's benchmarks are here, and :func:`claims` (from :mod:`.claims`, where the
scorecard looks for it) the chapter's rows of the reproduction scorecard. The computed
sentences are :mod:`.sentences`'. A payload is what
:func:`toposhape.studies.triplet.run.run` returns, fresh or loaded with
:func:`toposhape.results.load_results`. Nothing here trains.
"""

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from toposhape.checks import check_mapping
from toposhape.studies.style import not_run
from toposhape.studies.triplet import summary
from toposhape.studies.triplet.claims import claims, training_seconds
from toposhape.studies.triplet.figures import (
    figure_bytes,
    figure_compression,
    figure_curves,
    figure_embedding,
)
from toposhape.studies.triplet.text import dataset_name, plus_minus

__all__ = [
    "FLOOR_QUESTION",
    "PAGE",
    "benchmark_table",
    "claims",
    "page_figures",
    "tables",
    "training_seconds",
]

#: What the page shows: profile -> the figures it places (``<profile>-<key>``).
PAGE: dict[str, tuple[str, ...]] = {
    "full": ("bytes", "curves-headline", "curves-wide", "compression", "embedding-mnist",
             "embedding-fashion-mnist"),
    "tinyimagenet": ("bytes", "curves-headline", "curves-wide", "compression"),
}  # fmt: skip


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
# Tables
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
                "dataset": dataset_name(c["dataset"]),
                "d": c["d"],
                "model": c["label"],
                "bytes / vector": c["bytes"],
                "R@1 (%)": plus_minus(c["R@1"], c["R@1 std"]),
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
                "dataset": dataset_name(c["dataset"]),
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
    return f"{name}, {size} B: {plus_minus(mean, std)}"


#: The question of the rows that set the best model beside its floor (no rule applies).
FLOOR_QUESTION = "PCA floor (context)"


def _comparison_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The comparisons fixed before the runs, then the best model at every d against the
    PCA floor of its bytes (context: no margin, no verdict)."""
    rows = [
        {
            "dataset": dataset_name(c["dataset"]),
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
            "dataset": dataset_name(c["dataset"]),
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
                "dataset": dataset_name(c["dataset"]),
                "store": c["store"],
                "settings": c["settings"],
                "bytes / vector": c["bytes"],
                "recall@10 (%)": plus_minus(c["recall@10"], c["recall@10 std"]),
                "class R@1 (%)": plus_minus(c["class R@1"], c["class R@1 std"]),
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
                    "dataset": dataset_name(record["dataset"]),
                    "split": split,
                    "read from": data["source"],
                    "classes": data["classes"],
                    "images used": data["images"],
                }
            )
    order = ["train", "validation", "test", "database"]
    datasets = [dataset_name(d) for d in payload["settings"]["datasets"]]
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


def benchmark_table(status: Mapping[str, str]) -> pd.DataFrame:
    """:func:`~toposhape.studies.triplet.run.benchmark_status` as a table."""
    check_mapping("status", status)
    return pd.DataFrame({"benchmark": list(status), "on this machine": list(status.values())})
