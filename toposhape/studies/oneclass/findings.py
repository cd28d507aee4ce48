"""What the numbers of a one-class payload say, in sentences, by the noise rule of the chapter.

:func:`findings` answers the chapter's questions from a payload alone, each answer decided
by :func:`~toposhape.studies.oneclass.summary.verdict` and printed in bold.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from toposhape.studies.oneclass.anchors import ANCHORS
from toposhape.studies.oneclass.protocol import BASELINES, RECIPE
from toposhape.studies.oneclass.summary import (
    checked,
    dataset_name,
    headline_n,
    scored_on,
    seed_stats,
    setting_name,
    verdict,
)

#: The topics of :func:`findings`, in the order the chapter shows them.
TOPICS = ("table1", "deaths", "jpeg", "baselines", "ablations")


def _say(answer: str) -> str:
    return f"**{answer}**"


def _table1(payload: Mapping[str, Any], n0: int) -> list[str]:
    """λ = 20 vs λ = 0, the calibrated radius and the distance to the anchor, per pair."""
    s, lines = payload["settings"], []
    for train in s["datasets"]:
        for e in s["eval_datasets"]:
            a = seed_stats(payload, setting_name(train, RECIPE["lam"]), e, n0)
            b = seed_stats(payload, setting_name(train, 0.0), e, n0)
            if a is None or b is None:
                continue
            pair = f"{dataset_name(train)} → {scored_on(payload, e)}"
            kind = "same dataset" if train == e else "transfer"
            answer, delta, se = verdict(a, b)
            lines.append(
                f"λ = 20 beats λ = 0 for {pair} ({kind}, n = {n0}): {_say(answer)} "
                f"({a['mean']:.2f} vs {b['mean']:.2f}, Δ = {delta:+.2f}"
                + (f", SE {se:.2f}" if se is not None else "")
                + ")."
            )
            c = seed_stats(payload, setting_name(train, RECIPE["lam"]), e, n0, "calibrated")
            if c is not None:
                answer, delta, se = verdict(c, a)
                lines.append(
                    f"The calibrated radius (mean {np.mean(c['radii']):.2f}) beats η = 2 for "
                    f"{pair}: {_say(answer)} ({c['mean']:.2f} vs {a['mean']:.2f})."
                )
            anchor = ANCHORS["table1"].get(train, {}).get(e)
            if anchor is not None:
                lines.append(
                    f"{pair}: ours {a['mean']:.2f} against the anchor {anchor:.2f} "
                    f"({a['mean'] - anchor:+.2f})."
                )
    return lines


def death_spread(
    payload: Mapping[str, Any], train: str
) -> dict[float, tuple[float, float, float]] | None:
    """How much the held-out death times of the λ = 0 and λ = 20 backbones of ``train`` spread.

    Returns
    -------
    dict or None
        λ (0 and 20) -> (coefficient of variation averaged over runs, lowest and highest
        per-branch mean death time over runs); None unless both settings have backbones.
    """
    spreads = {}
    for lam in (0.0, RECIPE["lam"]):
        runs = [
            b["deaths"]
            for b in payload["backbones"].values()
            if b["setting"] == setting_name(train, lam)
        ]
        if runs:
            spreads[lam] = (
                float(np.mean([d["cv"] for d in runs])),
                min(min(d["per_branch_mean"]) for d in runs),
                max(max(d["per_branch_mean"]) for d in runs),
            )
    return spreads if len(spreads) == 2 else None


def _deaths(payload: Mapping[str, Any]) -> list[str]:
    """How much the held-out death times of λ = 0 and λ = 20 backbones spread."""
    lines = []
    for train in payload["settings"]["datasets"]:
        spreads = death_spread(payload, train)
        if spreads is not None:
            (cv0, lo0, hi0), (cv20, lo20, hi20) = spreads[0.0], spreads[RECIPE["lam"]]
            lines.append(
                f"Held-out death times of the {dataset_name(train)} backbones (batches of 100 "
                f"test codes): coefficient of variation {cv0:.2f} with λ = 0 against "
                f"{cv20:.2f} with λ = 20; the 16 branches' mean death times range from "
                f"{lo0:.2f} to {hi0:.2f} with λ = 0 and from {lo20:.2f} to {hi20:.2f} with "
                "λ = 20."
            )
    return lines


def _jpeg(payload: Mapping[str, Any], n0: int) -> list[str]:
    """What scoring JPEG instead of lossless test images changes (paired, per run)."""
    lines, seen = [], set()
    for entry in payload["evaluations"]:
        key = (entry["setting"], entry["eval"])
        if entry["kind"] != "jpeg" or key in seen:
            continue
        seen.add(key)
        png = seed_stats(payload, *key, n0, kind="jpeg", split="test-png")
        jpg = seed_stats(payload, *key, n0, kind="jpeg", split="test-jpeg1000")
        if png is None or jpg is None:
            continue
        diffs = np.subtract(jpg["values"], png["values"])
        spread = f" ± {diffs.std(ddof=1):.2f}" if len(diffs) > 1 else ""
        lines.append(
            f"JPEG instead of lossless test images moves the AUROC of {key[0]} on the "
            f"{entry['test_images']} {dataset_name(key[1])} test images that exist both ways by "
            f"{diffs.mean():+.2f}{spread} (paired: same runs, same inliers; {len(diffs)} "
            f"run{'s' if len(diffs) > 1 else ''})."
        )
    return lines


def baseline_stats(payload: Mapping[str, Any], e: str, n0: int) -> dict[str, dict[str, Any]]:
    """Method -> its AUROC × 100 on ``e`` at ``n0``, as a one-run summary for ``verdict``.

    A baseline is one run: its ``seed_std`` is None, so a comparison borrows a noise std.
    """
    out = {}
    for entry in payload["baselines"]:
        found = [r for r in entry["rows"] if r["n"] == n0] if entry["eval"] == e else []
        if found:
            mean = 100 * found[0]["mean"]
            out[entry["method"]] = {"mean": mean, "seed_std": None, "values": [mean]}
    return out


def _baselines(payload: Mapping[str, Any], n0: int) -> list[str]:
    """η-balls (λ = 20) against each baseline at the headline n."""
    s, lines = payload["settings"], []
    for e in s["baseline_sets"]:
        for train in s["datasets"]:
            ours = seed_stats(payload, setting_name(train, RECIPE["lam"]), e, n0)
            if ours is None:
                continue
            for method, base in baseline_stats(payload, e, n0).items():
                answer, _, _ = verdict(ours, base, noise_std=ours["seed_std"])
                lines.append(
                    f"On {scored_on(payload, e)}, η-balls (λ = 20, {dataset_name(train)} "
                    f"backbone) beat {BASELINES[method]}: {_say(answer)} "
                    f"({ours['mean']:.2f} vs {base['mean']:.2f}; the baseline is one run, so "
                    "the backbones' seed std stands in for its noise)."
                )
    return lines


def ablation_noise(payload: Mapping[str, Any], e: str, n0: int) -> float | None:
    """The noise a one-run ablation point borrows: the larger seed std of the ablation set's
    λ = 0 and λ = 20 settings scored on ``e`` at ``n0`` (None without a seed spread)."""
    ablation = payload["settings"]["ablation_dataset"]
    ref = [seed_stats(payload, setting_name(ablation, lam), e, n0) for lam in (0.0, RECIPE["lam"])]
    return max((r["seed_std"] for r in ref if r and r["seed_std"] is not None), default=None)


def _ablations(payload: Mapping[str, Any], n0: int) -> list[str]:
    """Shape of the λ and radius curves against the anchor's, and 16 × 10 vs 1 × 160."""
    s, lines = payload["settings"], []
    ablation = s["ablation_dataset"]
    for e in s["ablation_evals"]:
        pair = f"{dataset_name(ablation)} → {scored_on(payload, e)}"
        noise = ablation_noise(payload, e, n0)
        by_lam = {
            lam: seed_stats(payload, setting_name(ablation, float(lam)), e, n0)
            for lam in s["lambdas"]
        }
        by_lam = {k: v for k, v in by_lam.items() if v is not None}
        if len(by_lam) == len(s["lambdas"]):
            best = max(by_lam, key=lambda k: by_lam[k]["mean"])
            anchor = ANCHORS["lambda"]["values"]
            anchor_best = max(anchor, key=anchor.get)
            ties = [
                f"{k:g}"
                for k, v in by_lam.items()
                if k != best and verdict(by_lam[best], v, noise)[0] == "within noise"
            ]
            lines.append(
                f"{pair}: the λ curve peaks at λ = {best:g} ({by_lam[best]['mean']:.2f}); "
                f"within noise of the peak: {', '.join(ties) if ties else 'none'}; the anchor "
                f"peaks at λ = {anchor_best}. Same peak as the anchor: "
                f"{_say('yes' if f'{best:g}' == anchor_best else 'no')}."
            )
        main_setting = setting_name(ablation, RECIPE["lam"])
        by_r = {r: seed_stats(payload, main_setting, e, n0, float(r)) for r in s["radii"]}
        by_r = {k: v for k, v in by_r.items() if v is not None}
        if len(by_r) == len(s["radii"]):
            best_r = max(by_r, key=lambda k: by_r[k]["mean"])
            anchor_r = max(ANCHORS["radius"]["values"], key=ANCHORS["radius"]["values"].get)
            at_eta = seed_stats(payload, main_setting, e, n0)
            lines.append(
                f"{pair}: the best radius is η' = {best_r:g} ({by_r[best_r]['mean']:.2f}"
                + (f"; η' = {RECIPE['eta']:g}: {at_eta['mean']:.2f}" if at_eta else "")
                + f"); the anchor's best is {anchor_r}."
            )
        single = seed_stats(
            payload,
            setting_name(ablation, RECIPE["lam"], 1, RECIPE["branches"] * RECIPE["branch_dim"]),
            e,
            n0,
        )
        many = seed_stats(payload, main_setting, e, n0)
        if single is not None and many is not None:
            answer, _, _ = verdict(many, single, noise)
            lines.append(
                f"{pair}: 16 branches of 10 beat one branch of 160: {_say(answer)} "
                f"({many['mean']:.2f} vs {single['mean']:.2f}; anchor "
                f"{ANCHORS['lambda']['values']['20']:.2f} vs "
                f"{ANCHORS['single_branch']['lam20']:.2f})."
            )
    return lines


def findings(payload: Mapping[str, Any]) -> dict[str, list[str]]:
    """The chapter's questions, answered from ``payload`` with the noise rule of ``verdict``.

    Returns
    -------
    dict
        Markdown lines by topic (:data:`TOPICS`): ``table1`` (λ = 20 vs λ = 0 in-domain and
        in transfer, the calibrated radius, the distance to the anchors), ``deaths`` (the
        spread of held-out death times), ``jpeg`` (JPEG vs lossless test images),
        ``baselines`` (ours vs each baseline) and ``ablations`` (shape of the λ and radius
        curves against the anchor's, 16 × 10 vs 1 × 160 branches).
    """
    checked(payload, "settings", "evaluations", "baselines", "backbones", "datasets")
    n0 = headline_n(payload)
    return {
        "table1": _table1(payload, n0),
        "deaths": _deaths(payload),
        "jpeg": _jpeg(payload, n0),
        "baselines": _baselines(payload, n0),
        "ablations": _ablations(payload, n0),
    }
