"""Seed statistics and the noise rule of the N-VAE chapter, from a payload only.

Every headline number is a mean over training seeds with its sample standard deviation.
The noise rule, fixed before the full runs: A differs from B when their seed means differ
by more than :data:`NOISE` times the pooled seed standard deviation √((s_A² + s_B²)/2);
otherwise the difference is "within noise". With fewer than two seeds on a side the rule
cannot be applied ("one seed"). A verdict rests on at least :data:`MIN_SEEDS` training seeds
of every model it compares; with fewer it is at best "partly".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from toposhape.checks import check_mapping
from toposhape.studies.nvae.run import PAYLOAD_FORMAT

__all__ = [
    "CAPTURE_RHO",
    "CAPTURE_SIGN",
    "KL_USED",
    "MIN_SEEDS",
    "NOISE",
    "SHARE_USED",
    "capture_rule",
    "check_payload",
    "compare",
    "mean_std",
    "per_model",
    "runs",
    "sampler_mmd",
    "selective_classes",
    "selective_rule",
    "synthetic_by_seed",
]

#: Differences beyond this many pooled seed standard deviations count.
NOISE = 2.0

#: Training seeds of every compared model that a verdict above "partly" needs.
MIN_SEEDS = 3

#: A factor is captured by a latent dimension when its mean |ρ| over classes reaches this ...
CAPTURE_RHO = 0.5
#: ... and the sign of ρ agrees in at least this share of the classes.
CAPTURE_SIGN = 0.9

#: A z_c dimension is used when its largest per-class mean KL exceeds this (nats) ...
KL_USED = 0.5
#: ... and a class leaves it at the prior when its KL there is below this share of that largest.
SHARE_USED = 0.1


def capture_rule() -> str:
    """The rule, in words, by which a latent dimension captures a factor (seed means)."""
    return (
        f"a factor is captured when one shared dimension has mean |ρ| over classes ≥ "
        f"{CAPTURE_RHO:g} (Spearman, test images, dimension picked on validation images) with "
        f"the same sign in ≥ {100 * CAPTURE_SIGN:g} % of the classes (seed means)"
    )


def selective_rule() -> str:
    """The rule, in words, by which a class leaves a z_c dimension at the prior."""
    return (
        f"a class leaves a z_c dimension at the prior when the dimension is used (its largest "
        f"per-class KL exceeds {KL_USED:g} nats) but the class's KL there is below "
        f"{SHARE_USED:g} × that largest"
    )


def check_payload(payload: object, where: str = "payload") -> Mapping[str, Any]:
    """Return ``payload`` if it is a payload of this version of the chapter.

    Raises
    ------
    TypeError
        If it is not a mapping.
    ValueError
        If it lacks a key, or was written by an earlier version of the chapter (other
        measures, another layout); the message says how to recompute it.
    """
    check_mapping(where, payload, "datasets", "models", "recipe", "settings")
    if payload.get("format") != PAYLOAD_FORMAT:
        raise ValueError(
            f"{where} was written by an earlier version of the N-VAE chapter (format "
            f"{payload.get('format')!r}, this one reads {PAYLOAD_FORMAT!r}); recompute it: "
            "python -m toposhape.chapters reproduce nvae <profile>"
        )
    return payload


def runs(payload: Mapping[str, Any], dataset: str, model: str) -> list[dict[str, Any]]:
    """The measured runs (one per seed) of a model on a dataset, in seed order."""
    found = [r for r in payload["datasets"][dataset]["runs"] if r["model"] == model]
    return sorted(found, key=lambda r: r["seed"])


def per_model(
    payload: Mapping[str, Any], dataset: str, model: str, get: Callable[[dict], float]
) -> list[float]:
    """``get(run)`` for every seed of a model (an empty list when none is measured)."""
    return [float(get(r)) for r in runs(payload, dataset, model)]


def mean_std(values: list[float]) -> tuple[float, float, int]:
    """Mean, sample standard deviation (NaN for one value) and count; NaNs when empty."""
    if not values:
        return float("nan"), float("nan"), 0
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else float("nan"), len(a)


def compare(a: list[float], b: list[float]) -> tuple[str, float]:
    """Is A above B? ``("higher" | "lower" | "within noise" | "one seed" | "missing", Δ)``.

    Δ is the difference of the seed means; see the module docstring for the rule.
    """
    if not a or not b:
        return "missing", float("nan")
    delta = float(np.mean(a) - np.mean(b))
    if len(a) < 2 or len(b) < 2:
        return "one seed", delta
    pooled = float(np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2))
    if abs(delta) <= NOISE * pooled:
        return "within noise", delta
    return ("higher" if delta > 0 else "lower"), delta


def sampler_mmd(run: Mapping[str, Any], band: int) -> float:
    """MMD² between the prior and what the model's sampler meets, at bandwidth index ``band``.

    A conditional model (N-VAE, CVAE) draws z ~ N(0, I) for every label: the mean over
    classes of the per-class MMD². The VAE draws z ~ N(0, I) for all images: the pooled MMD².
    """
    match = run["prior_match"]
    part = match["pooled"]["estimate"] if run["kind"] == "vae" else match["per_class"]["mean"]
    return float(part[band])


def selective_classes(kl_per_class: list[list[float]], class_dim: int) -> int:
    """Classes that leave a used z_c dimension at the prior (the KL as feature detector).

    A z_c dimension is used when its largest per-class KL exceeds :data:`KL_USED`; a class
    leaves it at the prior when its KL there is below :data:`SHARE_USED` of that largest.
    """
    kl = np.asarray(kl_per_class, dtype=float)[:, :class_dim]
    top = kl.max(axis=0)
    selective = (top > KL_USED) & (kl < SHARE_USED * top)
    return int(selective.any(axis=1).sum())


def synthetic_by_seed(
    rows: list[Mapping[str, Any]], generator: str, fraction: float
) -> list[float]:
    """Mean test accuracy over classifier seeds, one value per generator seed (or per
    classifier seed for the real-data rows, ``generator`` ``"real data"``)."""
    if generator == "real data":
        return [r["accuracy"] for r in rows if r["generator"] == generator]
    seeds = sorted(
        {r["generator_seed"] for r in rows if r["generator"] == generator}, key=lambda s: s
    )
    return [
        float(
            np.mean(
                [
                    r["accuracy"]
                    for r in rows
                    if r["generator"] == generator
                    and r["generator_seed"] == s
                    and r["fraction"] == fraction
                ]
            )
        )
        for s in seeds
    ]
