"""The chapter's tables, as DataFrames with plain-text headers, from a results payload.

Numbers across training seeds are shown as ``mean ± std`` (:func:`pm`); the seeds behind
them and the rules are :mod:`.summary`'s.
"""

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from toposhape.checks import check_mapping
from toposhape.studies.connectivity import summary
from toposhape.studies.connectivity.backbones import RECIPE
from toposhape.studies.connectivity.run import PAYLOAD_KEYS


def pm(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± std`` to ``digits`` significant digits (the mean alone without a std; a
    std that would need an exponent and lies below the mean's last digit as, e.g.,
    ``1 ± <0.01``)."""
    if math.isnan(mean):
        return "–"
    if math.isnan(std):
        return f"{mean:.{digits}g}"
    # the place of the mean's last digit shown: a smaller std is shown as below it
    unit = 10.0 ** (math.floor(math.log10(abs(mean))) - digits + 1) if mean else 0.0
    spread = f"{std:.2g}"
    if "e" in spread and std < unit:
        spread = f"<{unit:g}"
    return f"{mean:.{digits}g} ± {spread}"


def over_seeds(values: list[float], digits: int = 3) -> str:
    """:func:`pm` of the mean and std of ``values`` (one per seed)."""
    mean, std, _ = summary.mean_std(values)
    return pm(mean, std, digits)


def _toy_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "arrangement": label,
                "death mean": s["mean"],
                "death std": s["std"],
                "CV": s["cv"],
                "max / min": s["max"] / max(s["min"], 1e-12),
            }
            for label, s in (
                ("clusters", payload["toy"]["before"]["stats"]),
                ("homogenised", payload["toy"]["after"]["stats"]),
            )
        ]
    )


def _gradient_tables(payload: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    g = payload["gradients"]
    gradcheck = pd.DataFrame(
        [
            {"function": name, "gradcheck": "passed" if ok else "failed"}
            for name, ok in g["gradcheck"].items()
        ]
    )
    sample = g["sample"]
    gradient_sample = pd.DataFrame(
        {
            "coordinate": [
                f"x[{i // g['dim']}, {i % g['dim']}]" for i in range(len(sample["autograd"]))
            ],
            "autograd": sample["autograd"],
            f"central difference (h = {sample['step']:.0e})": sample["finite_difference"],
        }
    )
    return gradcheck, gradient_sample


def _models_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    n = summary.headline_n(payload)
    rows = []
    for lam in (0.0, RECIPE["lam"]):
        names = summary.runs(payload, lam, RECIPE["batch_size"])
        models = [payload["models"][m] for m in names]
        last = [payload["backbones"][m]["history"][-1] for m in names]
        rows.append(
            {
                "λ": f"{lam:g}",
                "seeds": len(names),
                "test L1 (per image)": over_seeds([m["test_reconstruction_l1"] for m in models]),
                "death mean": over_seeds([m["deaths"]["mean"] for m in models]),
                "death std": over_seeds([m["deaths"]["std"] for m in models]),
                f"within η ± {summary.WITHIN:g} (%)": over_seeds(
                    [100 * summary.frac_within(m["deaths"]) for m in models]
                ),
                "final train L_η": over_seeds([h["connectivity"] for h in last]),
                f"AUROC n = {n}, r = η": over_seeds([summary.auroc(m, n) for m in models]),
                f"AUROC n = {n}, calibrated r": over_seeds(
                    [summary.auroc(m, n, calibrated=True) for m in models]
                ),
            }
        )
    return pd.DataFrame(rows)


def _by_batch_size(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """One dict per batch size (its ``"B"`` and one entry per measure) as one row per measure
    and one column per B: the table grows down with the measures, not across the page."""
    if not rows:
        return pd.DataFrame({"measure": []})
    frame = pd.DataFrame(rows).set_index("B").T
    frame.columns = [f"B = {b}" for b in frame.columns]
    return frame.rename_axis("measure").reset_index()


def _sweep_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    labels = {key: label for key, (label, _) in summary.measures(payload).items()}
    return _by_batch_size(
        [
            {"B": r["B"], "seeds": len(r["seeds"])}
            | {labels[k]: pm(r[k]["mean"], r[k]["std"]) for k in labels}
            for r in summary.sweep(payload)
        ]
    )


def _effects_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    labels = {key: label for key, (label, _) in summary.measures(payload).items()}
    effects = summary.effects(payload)
    sizes = [e["B"] for e in next(iter(effects.values()), [])]
    return _by_batch_size(
        [
            {"B": b}
            | {
                labels[k]: f"{e['diff']:+.3g} ({e['verdict']})"
                for k, rows in effects.items()
                for e in rows
                if e["B"] == b
            }
            for b in sizes
        ]
    )


def _covering_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for b in summary.batch_sizes(payload):
        names = summary.runs(payload, RECIPE["lam"], b)
        models = [payload["models"][m] for m in names]
        row: dict[str, Any] = {"B": b, "seeds": len(names)}
        q = f"{summary.COVER_SHARE:g}"
        for size in models[0]["covering"]["sizes"]:
            row[f"k_{q} of {size} codes"] = over_seeds(
                [summary.cover_k(m, size=size) for m in models]
            )
        row[f"k_{q} / B"] = over_seeds([summary.cover_k(m) / b for m in models])
        row[f"k_{q} growth exponent, last two"] = over_seeds(
            [summary.cover_growth(m) for m in models]
        )
        last = models[0]["covering"]["sizes"][-1]
        for share in models[0]["covering"]["quantiles"]:
            if share != summary.COVER_SHARE:
                label = "N_η" if share == 1 else f"k_{share:g}"
                row[f"{label} of {last} codes"] = over_seeds(
                    [summary.cover_k(m, share) for m in models]
                )
        rows.append(row)
    return _by_batch_size(rows)


def _control_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The guideline's numbers on the trained codes and on each ideal cloud: one row per
    measure, one column per cloud."""
    q = f"{summary.COVER_SHARE:g}"
    found = {"trained codes (MNIST train)": summary.guideline(payload)}
    found |= {c["label"]: c for c in summary.control(payload).values()}
    columns = {}
    for label, g in found.items():
        column = {f"slope of log k_{q} on log B": pm(*g["slope"])}
        column |= {f"k_{q} / B at B = {b}": f"{r:.3g}" for b, r in sorted(g["ratios"].items())}
        growth = sorted(g["growth"].items())
        column |= {f"growth exponent at B = {b}": f"{r:.2g}" for b, r in growth}
        columns[label] = column | {"the rule would say": g["verdict"]}
    return pd.DataFrame(columns).rename_axis("measure").reset_index()


def _densification_tables(payload: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    dens = summary.densification(payload)
    if "ns" not in dens:
        return pd.DataFrame(), pd.DataFrame()
    labels = {
        "coverage_at_b": f"coverage at n = {dens['n_at_b']}",
        "mass": f"ball mass at n = {dens['ns'][-1]}",
        "coverage_last": f"coverage at n = {dens['ns'][-1]}",
        "purity": f"class purity ({dens['purity_n']} per class)",
    }
    rows = [
        {"variant": label, "seeds": len(v["per_seed"]), "radius r": over_seeds(v["radii"])}
        | {labels[key]: over_seeds(v[key]) for key in summary.LEVELS}
        for label, v in dens["variants"].items()
    ]
    pair = [dens["variants"][label]["per_seed"] for label in summary.DENSITY_PAIR]
    rows.append(
        {"variant": f"difference {' − '.join(summary.DENSITY_PAIR)}", "seeds": min(map(len, pair))}
        | {labels[key]: f"{t['diff']:+.3g} ({t['verdict']})" for key, t in dens["tests"].items()}
    )
    by_class = {}
    for label, per_seed in zip(summary.DENSITY_PAIR, pair, strict=True):
        for key in summary.JUDGED:
            values = np.array([s["by_class"][key] for s in per_seed], dtype=np.float64)
            values = values.reshape(len(per_seed), len(dens["classes"]))  # (seeds, classes)
            by_class[f"{labels[key]}, {label}"] = [over_seeds(list(col)) for col in values.T]
    classes = pd.DataFrame({"class": dens["classes"]} | by_class)
    return pd.DataFrame(rows), classes


def _backbones_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "backbone": name,
            "trained in": b["source"],
            "epochs": len(b["history"]),
            "training (min)": b["training_seconds"] / 60,
        }
        for name, b in payload["backbones"].items()
    ]
    rows += [
        {"backbone": name, "trained in": "pending", "epochs": 0, "training (min)": math.nan}
        for name in payload["pending"]
    ]
    return pd.DataFrame(rows)


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The chapter's tables, one row per item, with plain-text headers.

    ``toy``; ``gradcheck`` and ``gradient_sample`` (differentiability); ``models`` (λ = 0
    and λ = 20 at B = 100, mean ± std over seeds); ``sweep`` (every measure per B),
    ``effects`` (each B against B = 100 by the noise rule), ``covering`` (k₀.₉ per sample
    size, its ratio to B and growth exponent over the last two, and the other partial
    covering numbers and N_η of the largest sample), these three with one row per measure
    and one column ``"B = …"`` per batch size; ``control`` (the guideline's slope, k₀.₉ / B
    and growth on the trained codes and on each ideal cloud, one column each);
    ``densification`` (the levels per variant and the rule's comparison) and
    ``densification_by_class`` (the judged levels per class); ``backbones`` (where each was
    trained, how long, which are pending) and ``timings``.
    """
    check_mapping("payload", payload, *PAYLOAD_KEYS)
    gradcheck, gradient_sample = _gradient_tables(payload)
    densification, by_class = _densification_tables(payload)
    return {
        "toy": _toy_table(payload),
        "gradcheck": gradcheck,
        "gradient_sample": gradient_sample,
        "models": _models_table(payload),
        "sweep": _sweep_table(payload),
        "effects": _effects_table(payload),
        "covering": _covering_table(payload),
        "control": _control_table(payload),
        "densification": densification,
        "densification_by_class": by_class,
        "backbones": _backbones_table(payload),
        "timings": pd.DataFrame(
            {"phase": list(payload["timings_s"]), "seconds": list(payload["timings_s"].values())}
        ),
    }
