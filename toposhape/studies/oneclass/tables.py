"""Tables of the one-class chapter, from a results payload only, as DataFrames.

:func:`tables` makes every table of a payload (the payload checked first);
:func:`not_runnable_line` says in one sentence which of the paper's cells cannot be run here.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from toposhape.studies.oneclass.anchors import ANCHORS, CIFAR_COMMAND, UNOBTAINABLE
from toposhape.studies.oneclass.protocol import BASELINES, RECIPE
from toposhape.studies.oneclass.summary import (
    checked,
    dataset_name,
    fmt,
    headline_n,
    scored_on,
    seed_stats,
    setting_name,
)
from toposhape.training import history_seconds


def _pair(payload: Mapping[str, Any], backbone: str, eval_name: str) -> str:
    return f"{dataset_name(backbone)} → {scored_on(payload, eval_name)}"


def _table1(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The paper's Table 1 cells that this payload can fill: anchor beside ours.

    One row per (backbone set → evaluation set) pair of the anchors whose two datasets the
    payload has: the anchor, our λ = 20 and λ = 0 backbones at η and λ = 20 at the calibrated
    radius (all at n = 120, mean ± seed std with the draws' ±).
    """
    n0 = headline_n(payload)
    rows = []
    for backbone, evals in ANCHORS["table1"].items():
        for eval_name, anchor in evals.items():
            if backbone not in payload["settings"]["datasets"]:
                continue
            if eval_name not in payload["settings"]["eval_datasets"]:
                continue
            lam20 = setting_name(backbone, RECIPE["lam"])
            lam0 = setting_name(backbone, 0.0)
            rows.append(
                {
                    "backbone → one-class set": _pair(payload, backbone, eval_name),
                    "anchor (paper)": f"{anchor:.2f}",
                    "ours, λ = 20": fmt(seed_stats(payload, lam20, eval_name, n0)),
                    "ours, λ = 0": fmt(seed_stats(payload, lam0, eval_name, n0)),
                    "λ = 20, calibrated radius": fmt(
                        seed_stats(payload, lam20, eval_name, n0, "calibrated"), draws=False
                    ),
                }
            )
    return pd.DataFrame(rows)


def _data_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """What was read of each dataset and split, as its record describes it."""
    rows = [
        {"dataset": dataset_name(name), "split": split, "read": label}
        for name, info in payload["datasets"].items()
        for split, label in info["labels"].items()
    ]
    return pd.DataFrame(rows, columns=["dataset", "split", "read"])


def _by_n_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """AUROC by number of inliers n, every λ = 20 / λ = 0 pair of the payload."""
    rows = []
    for backbone in payload["settings"]["datasets"]:
        for eval_name in payload["settings"]["eval_datasets"]:
            for lam in (RECIPE["lam"], 0.0):
                setting = setting_name(backbone, lam)
                row = {"backbone → one-class set": _pair(payload, backbone, eval_name)}
                row["λ"] = f"{lam:g}"
                for n in payload["settings"]["ns"]:
                    row[f"n = {n}"] = fmt(seed_stats(payload, setting, eval_name, n))
                rows.append(row)
    return pd.DataFrame(rows)


def _jpeg_table(payload: Mapping[str, Any]) -> pd.DataFrame | None:
    """AUROC on the test images that exist both as JPEG and lossless PNG, same inliers.

    None when no evaluation set has such a subset (e.g. CIFAR-10 read from the pickles,
    whose test split is lossless to begin with).
    """
    n0 = headline_n(payload)
    rows, seen = [], set()
    for entry in payload["evaluations"]:
        if entry["kind"] != "jpeg" or entry["split"] != "test-png":
            continue
        setting, eval_name = entry["setting"], entry["eval"]
        if (setting, eval_name) in seen:
            continue
        seen.add((setting, eval_name))
        png = seed_stats(payload, setting, eval_name, n0, kind="jpeg", split="test-png")
        jpg = seed_stats(payload, setting, eval_name, n0, kind="jpeg", split="test-jpeg1000")
        if png is None or jpg is None:
            continue
        diffs = np.subtract(jpg["values"], png["values"])  # paired: same run, same inliers
        rows.append(
            {
                "backbone": setting.replace("-16x10", ""),
                "JPEG (1000 test images)": fmt(jpg, draws=False),
                "lossless PNG (same 1000)": fmt(png, draws=False),
                "JPEG − PNG (paired, per run)": f"{diffs.mean():+.2f}"
                + (f" ± {diffs.std(ddof=1):.2f}" if len(diffs) > 1 else ""),
            }
        )
    return pd.DataFrame(rows) if rows else None


def _baselines_table(payload: Mapping[str, Any], eval_name: str) -> pd.DataFrame:
    """Every method on one set in the same draws, at each n it was run."""
    ns = payload["settings"]["ns"]
    rows = []
    for backbone in payload["settings"]["datasets"]:
        for lam in (RECIPE["lam"], 0.0):
            stats = {n: seed_stats(payload, setting_name(backbone, lam), eval_name, n) for n in ns}
            if all(s is None for s in stats.values()):
                continue
            label = f"η-balls, λ = {lam:g}, {dataset_name(backbone)} backbone"
            rows.append({"method": label, **{f"n = {n}": fmt(stats[n]) for n in ns}})
    for entry in payload["baselines"]:
        if entry["eval"] != eval_name:
            continue
        row = {"method": BASELINES[entry["method"]]}
        for n in ns:
            found = [r for r in entry["rows"] if r["n"] == n]
            row[f"n = {n}"] = (
                f"{100 * found[0]['mean']:.2f} (draws ± {100 * found[0]['std']:.2f}, one run)"
                if found
                else "—"
            )
        rows.append(row)
    return pd.DataFrame(rows)


def _backbones_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """Per backbone setting: runs, training time, final losses, held-out death times."""
    groups: dict[str, list[dict]] = {}
    for b in payload["backbones"].values():
        groups.setdefault(b["setting"], []).append(b)
    rows = []
    for runs in groups.values():
        spec, last = runs[0]["spec"], [b["history"][-1] for b in runs]
        minutes = np.mean([history_seconds(b["history"]) for b in runs]) / 60
        within = 100 * np.mean([b["deaths"]["frac_within"] for b in runs])
        rows.append(
            {
                "trained on": dataset_name(spec["dataset"]),
                "λ": f"{spec['lam']:g}",
                "latent": f"{spec['branches']}×{spec['branch_dim']}",
                "runs × epochs": f"{len(runs)} × {len(runs[0]['history'])}",
                "min per run": f"{minutes:.1f}",
                "final L1": f"{np.mean([x['reconstruction_l1'] for x in last]):.1f}",
                "final L_η": f"{np.mean([x['connectivity'] for x in last]):.2f}",
                "death time": f"{np.mean([b['deaths']['mean'] for b in runs]):.3f}",
                "within η ± 0.5": f"{within:.0f} %",
            }
        )
    return pd.DataFrame(rows)


def _anchor(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ablation_tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """λ, radius and branch ablations on the ablation set's evaluations, with the anchors.

    ``lambda`` (n = headline and ``large_n`` if run), ``radius`` and ``branches``; the anchor
    column is the paper's CIFAR-100 → CIFAR-10 (shape only). A column of ours is headed by
    its pair and n, e.g. ``TinyImageNet-200 → CIFAR-10, n = 120``.
    """
    n0 = headline_n(payload)
    s = payload["settings"]
    ablation, large = s["ablation_dataset"], s["large_n"]

    def ours(e: str, n: int) -> str:
        return f"{dataset_name(ablation)} → {dataset_name(e)}, n = {n}"

    lam_rows = []
    for lam in s["lambdas"]:
        setting = setting_name(ablation, float(lam))
        row = {"λ": f"{lam:g}"}
        for e in s["ablation_evals"]:
            row[ours(e, n0)] = fmt(seed_stats(payload, setting, e, n0))
            if large:
                big = seed_stats(payload, setting, e, large, kind="large_n")
                row[ours(e, large)] = fmt(big, draws=False)
        row[f"anchor, n = {n0}"] = _anchor(ANCHORS["lambda"]["values"].get(f"{lam:g}"))
        if large:
            big = ANCHORS["lambda_large_n"]["values"].get(f"{lam:g}")
            row[f"anchor, n = {large}"] = _anchor(big)
        lam_rows.append(row)
    main = setting_name(ablation, RECIPE["lam"])
    radius_rows = []
    for r in s["radii"]:
        row = {"radius η'": f"{r:g}"}
        for e in s["ablation_evals"]:
            row[ours(e, n0)] = fmt(seed_stats(payload, main, e, n0, float(r)))
        row["anchor"] = _anchor(ANCHORS["radius"]["values"].get(f"{r:g}"))
        radius_rows.append(row)
    single = setting_name(ablation, RECIPE["lam"], 1, RECIPE["branches"] * RECIPE["branch_dim"])
    branch_rows = []
    for label, setting, anchor in (
        ("16×10 (λ = 20)", main, ANCHORS["lambda"]["values"]["20"]),
        ("1×160 (λ = 20)", single, ANCHORS["single_branch"]["lam20"]),
    ):
        row = {"latent": label}
        for e in s["ablation_evals"]:
            row[ours(e, n0)] = fmt(seed_stats(payload, setting, e, n0))
        row["anchor"] = _anchor(anchor)
        branch_rows.append(row)
    return {
        "lambda": pd.DataFrame(lam_rows),
        "radius": pd.DataFrame(radius_rows),
        "branches": pd.DataFrame(branch_rows),
    }


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Every table of a payload, by key (the payload checked first).

    Returns
    -------
    dict of str to DataFrame
        ``table1`` (the paper's cells this payload fills, anchor beside ours), ``data``
        (what was read), ``by-n`` (AUROC by number of inliers), ``jpeg`` (JPEG vs lossless
        test images; only where a set has both), ``baselines-<set>`` (every method in the
        same draws, per baseline set), ``backbones`` (training and held-out death times)
        and the ablations ``lambda``, ``radius`` and ``branches``.
    """
    checked(payload, "settings", "evaluations", "baselines", "backbones", "datasets")
    out = {
        "table1": _table1(payload),
        "data": _data_table(payload),
        "by-n": _by_n_table(payload),
    }
    jpeg = _jpeg_table(payload)
    if jpeg is not None:
        out["jpeg"] = jpeg
    for name in payload["settings"]["baseline_sets"]:
        out[f"baselines-{name}"] = _baselines_table(payload, name)
    out["backbones"] = _backbones_table(payload)
    return out | _ablation_tables(payload)


def not_runnable_line(payload: Mapping[str, Any]) -> str:
    """One sentence naming the Table 1 cells this payload cannot fill, and why."""
    checked(payload, "settings")
    have = set(payload["settings"]["datasets"]) | set(payload["settings"]["eval_datasets"])
    missing = [
        (b, e) for b, evals in ANCHORS["table1"].items() for e in evals if not {b, e} <= have
    ]
    total = sum(len(evals) for evals in ANCHORS["table1"].values())
    absent = sorted({dataset_name(d) for d in UNOBTAINABLE})
    return (
        f"Not run here ({len(missing)} of the paper's {total} cells): every cell that involves "
        f"{', '.join(absent)}, whose data cannot be obtained offline "
        f"(`{CIFAR_COMMAND}` runs them where the data exist)."
    )
