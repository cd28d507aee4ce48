"""The chapter "MSimCLR" for readers, from results payloads only (no training).

A payload is what :func:`toposhape.studies.msimclr.run.run` returns for one profile
(fresh, or loaded with :func:`toposhape.results.load_results`), or
:func:`~toposhape.studies.msimclr.run.empty_payload` for a profile nothing of which was
evaluated. From it: :func:`figures`, :func:`tables` (DataFrames), :func:`source`,
:func:`setup`, :func:`splits`, :func:`missing` and :func:`findings` (sentences), and
:func:`claims`, this chapter's rows of the reproduction scorecard
(:mod:`toposhape.studies.scorecard`), which also adds
:func:`~toposhape.studies.msimclr.budget.training_seconds` (imported here, where it looks
for it) to the results runs. The sentences on the training budget are
:mod:`~toposhape.studies.msimclr.budget`'s, those on stuck runs and the floors
:mod:`~toposhape.studies.msimclr.floors`', and the comparisons the claims read
:mod:`~toposhape.studies.msimclr.pairs`'. Comparisons follow the noise rule of
:mod:`toposhape.studies.msimclr.compare`.

Accuracies in a payload are fractions; everything shown here is in percent, and a
difference of accuracies is in percentage *points*.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from toposhape.contrastive import ContrastiveConfig
from toposhape.image_sets import DISPLAY_NAMES
from toposhape.studies import scorecard
from toposhape.studies.msimclr import figures as draw
from toposhape.studies.msimclr.budget import (
    DROP_STEPS,
    REFERENCE,
    block_seconds,
    median_step,
    ntxent_drop,
    reference_steps,
    resnet_name,
    trained_steps,
    training_seconds,
)
from toposhape.studies.msimclr.compare import (
    MIN_SEEDS,
    NOISE_RULE,
    PROBES,
    TOO_FEW,
    accuracies,
    cell,
    floor,
    in_points,
    label,
    ntxent_bound,
    seeds_of,
    trained_runs,
)
from toposhape.studies.msimclr.floors import (
    FLOOR_RULE,
    STUCK,
    against_floors,
    one_chart_head,
    one_chart_signal,
    reference_head_stuck,
)
from toposhape.studies.msimclr.pairs import low_d, mmd_alone
from toposhape.studies.msimclr.run import CHAPTER, check_payload, empty_payload
from toposhape.studies.msimclr.schedule import training_plan

__all__ = [
    "DRASTIC",
    "claims",
    "figures",
    "findings",
    "missing",
    "setup",
    "source",
    "splits",
    "tables",
    "training_seconds",
]

#: Points of linear-probe accuracy by which the MMD term alone must lead to help "drastically".
DRASTIC = 5.0

#: The comparisons a verdict reads: the rule's two probes, and (to show whether the verdict
#: depends on the probe) MSimCLR read by the reference's per-chart probe in place of the
#: linear one, against SimCLR's linear probe (for one embedding the same classifier).
_RULE_PROBES = tuple(PROBES)
_CHART_PROBES = ("per_chart", "knn")


_BACKBONES = {
    "tiny": "a small CNN (`SmallConvNet` of width 16: 3×3 convolutions with 16, 32 and 64 "
    "channels, GroupNorm, ReLU, max-pool, global average pool)",
    "small": "a small CNN (`SmallConvNet` of width 32: 3×3 convolutions with 32, 64 and 128 "
    "channels, GroupNorm, ReLU, max-pool, global average pool)",
}


def _name(dataset: str) -> str:
    return DISPLAY_NAMES.get(dataset, dataset)


# --------------------------------------------------------------------------- comparisons


def _too_few(found: Mapping[Any, Mapping[str, Any] | None], probes: Sequence[str]) -> bool:
    """Whether a comparison in ``found`` (comparisons by probe, or None) under ``probes``
    had too few seeds to be made."""
    return any(f[p].outcome == TOO_FEW for f in found.values() if f for p in probes)


def _seeds_of_plan(payload: Mapping[str, Any], found: Mapping[Any, Any]) -> str:
    """``"n of m seeds"``: the fewest seeds behind the comparisons in ``found`` and the
    profile's seeds."""
    seeds = min(f["seeds"] for f in found.values() if f)
    return f"{seeds} of {len(payload['settings']['seeds'])} seeds"


# --------------------------------------------------------------------------- sentences


def _budget(payload: Mapping[str, Any], dataset: str) -> str:
    s = payload["settings"]
    return (
        f"backbone {s['backbone']}, {trained_steps(payload, dataset)}, τ = {s['temperature']:g}, "
        f"Adam lr {s['lr']:g}"
    )


def _data(payload: Mapping[str, Any], dataset: str) -> str:
    entry = payload["datasets"].get(dataset)
    if entry is None:
        return "not evaluated yet"
    return "; ".join(
        entry[split]["label"]
        + ("" if entry[split]["images"] == entry[split]["of"] else
           f" (random {entry[split]['images']} of them)")
        for split in ("train", "test")
    )  # fmt: skip


def setup(payload: Mapping[str, Any]) -> str:
    """One Markdown paragraph: what was trained, on which data, at what budget."""
    check_payload(payload)
    s = payload["settings"]
    plan = training_plan(s)
    trained = len(plan) - len(payload["missing"])
    data = " ".join(
        f"Data: {_data(payload, d)}; trained models: {trained_steps(payload, d)}."
        for d in s["datasets"]
    )
    criterion = (
        f"a fixed {s['min_steps']} steps (the convergence criterion is recorded, not acted on)"
        if s["min_steps"] == s["max_steps"]
        else f"at least {s['min_steps']} steps, then {s['extend_steps']} more at a time while "
        f"the mean training loss over the last {100 * s['flat_window']:.0f} % of the steps is "
        f"lower than over the {100 * s['flat_window']:.0f} % before by more than "
        f"{100 * s['flat_threshold']:g} %, up to {s['max_steps']} steps"
    )
    blocks = block_seconds(payload)
    step = median_step(payload)
    speed = (
        f" (median {step:.2f} s per step, as measured on the machine that trained them)"
        if step is not None
        else ""
    )
    return (
        f"Backbone: {_BACKBONES.get(s['backbone'], s['backbone'])}, trained from scratch. "
        f"Batch {s['batch_size']} images (two augmented views each), Adam with learning rate "
        f"{s['lr']:g} and weight decay {ContrastiveConfig.weight_decay:g}, "
        f"τ = {s['temperature']:g}; every model trains "
        f"{criterion}, with a checkpoint every {s['block_steps']} steps. Training seeds "
        f"{', '.join(map(str, s['seeds']))}: each seeds the initial weights, batch order, "
        f"augmentations and MMD draws. {data} Trained so far: {trained} of the {len(plan)} "
        f"models, in {sum(blocks) / 3600:.1f} h of training summed over their blocks{speed}. "
        "Probes: "
        f"logistic regression on standardised features, and {s['knn']} nearest neighbours."
    )


def source(payload: Mapping[str, Any]) -> str:
    """One Markdown sentence for a payload computed in this run: from what, and how long
    building it took."""
    check_payload(payload)
    trained = sum(len(trained_runs(entry)) for entry in payload["datasets"].values())
    seconds = sum(payload["timings_s"].values())
    rest = (
        "a model without one was trained and recorded first"
        if payload["settings"]["train_in_run"]
        else "a model without one is listed as missing, not trained"
    )
    return (
        f"Profile **{payload['profile']}**: numbers computed in this run ({seconds:.1f} s) from "
        f"the records of its {trained} trained models and of its floors; {rest}."
    )


def splits(payload: Mapping[str, Any]) -> str:
    """Sentences on every dataset whose test split is in another format than its training
    split: what both are (the data record's ``source``), how far the test images are from
    the lossless originals where that was measured, and which split the probes are fit and
    scored on ("" if no dataset's splits differ)."""
    check_payload(payload)
    out = []
    for dataset, entry in payload["datasets"].items():
        train, test = (draw.data_name(payload, dataset, split) for split in ("train", "test"))
        if train == test:
            continue
        found = entry["test"].get("source") or {}
        text = (
            f"{_name(dataset)}: the training images are "
            f"{found.get('train', entry['train']['label'])}, the test images "
            f"{found.get('test', entry['test']['label'])}"
        )
        psnr = found.get("jpeg_psnr_db_vs_lossless")
        if psnr:
            text += (
                f"; on the {psnr['images']} test images that also exist losslessly, the "
                f"re-encodings' PSNR against the originals is {psnr['min']:.1f}–"
                f"{psnr['max']:.1f} dB (mean {psnr['mean']:.1f} dB)"
            )
        out.append(
            f"{text}. Every probe is fit on the training split ({train}) and scored on the "
            f"test split ({test})."
        )
    return " ".join(out)


def missing(payload: Mapping[str, Any]) -> str:
    """One Markdown sentence: which models of the profile are not trained yet."""
    check_payload(payload)
    names = payload["missing"]
    total = len(training_plan(payload["settings"]))
    if not names:
        return f"All {total} models of the profile are trained and evaluated."
    per_seed = total // len(payload["settings"]["seeds"])
    by_seed: dict[str, list[str]] = {}
    for name in names:
        stem, seed = name.rsplit("-s", 1)
        by_seed.setdefault(seed, []).append(stem)
    listed = "; ".join(
        f"seed {seed}: " + ("all" if len(stems) == per_seed else ", ".join(f"`{s}`" for s in stems))
        for seed, stems in by_seed.items()
    )
    return (
        f"**{len(names)} of the {total} models of the profile are not trained yet** and are "
        f"absent from every figure, table and verdict below ({listed})."
    )


def _probe_dependence(name: str, what: str, rule: str, chart: str) -> str:
    """One sentence: a claim's verdict by the rule and with MSimCLR read by the per-chart
    probe in place of the linear one."""
    reading = (
        "under per-chart probes (MSimCLR read by the reference's per-chart probe in place of "
        "the linear one, against SimCLR's linear probe)"
    )
    return f"{name}, {what}: verdict by the rule (linear and k-NN probes) **{rule}**; " + (
        f"{reading} it is the same, so the verdict does not depend on the probe."
        if rule == chart
        else f"the verdict depends on the probe: {reading} it would be **{chart}**."
    )


def _answer(payload: Mapping[str, Any], found: Mapping[str, Any], yes: bool) -> str:
    """A finding's bold answer: yes or no, or that its seeds are too few to tell."""
    if _too_few({0: found}, PROBES):
        return f"**too few seeds to tell ({_seeds_of_plan(payload, {0: found})})**"
    return f"**{'yes' if yes else 'no'}**"


def findings(payload: Mapping[str, Any]) -> list[str]:
    """The claims answered from the payload, one sentence per dataset and comparison."""
    check_payload(payload)
    settings = payload["settings"]
    lines = []
    for dataset in settings["datasets"]:
        name = draw.data_name(payload, dataset, "test")
        entry = payload["datasets"].get(dataset)
        low = low_d(payload, dataset)
        for d, found in low.items():
            if found is None:
                lines.append(f"{name}, d = {d}: MSimCLR vs SimCLR not measurable yet.")
                continue
            wins = all(found[p].outcome == "wins" for p in PROBES)
            lines.append(
                f"{name}, d = {d}: MSimCLR beats SimCLR under both probes: "
                f"{_answer(payload, found, wins)} ({label(found['msimclr'])} − "
                f"{label(found['simclr'])}: linear {in_points(found['linear'])}, k-NN "
                f"{in_points(found['knn'])} points; {found['seeds']} "
                f"seed{'s' * (found['seeds'] != 1)})."
            )
        if 2 in settings["dims"] and 1 in settings["charts"]:
            for key, found in mmd_alone(payload, dataset).items():
                if found is None:
                    lines.append(f"{name}, d = 2: MMD alone vs {label(key)} not measurable yet.")
                    continue
                wins = all(found[p].outcome == "wins" for p in PROBES)
                drastic = wins and found["linear"].diff > DRASTIC
                answer = _answer(payload, found, wins) + (
                    "" if _too_few({0: found}, PROBES)
                    else f", drastically (> {DRASTIC:g} points): **{'yes' if drastic else 'no'}**"
                )  # fmt: skip
                lines.append(
                    f"{name}, d = 2: the MMD term alone (one chart) beats {label(key)}: "
                    f"{answer} (linear {in_points(found['linear'])}, k-NN "
                    f"{in_points(found['knn'])} points; {found['seeds']} "
                    f"seed{'s' * (found['seeds'] != 1)}{', some capped' * found['capped']})."
                )
            if entry is not None and entry["models"]["msimclr-k1-d2"]["seeds"]:
                lines.append(one_chart_signal(payload, dataset))
        head = one_chart_head(payload, dataset)
        lines += [head] if head else []
        stuck = reference_head_stuck(payload, dataset)
        lines += [stuck] if stuck else []
        if any(low.values()) and _low_d_verdict(low) != "not run yet":
            lines.append(_probe_dependence(
                name, "MSimCLR beats SimCLR at low d", _low_d_verdict(low),
                _low_d_verdict(low, _CHART_PROBES),
            ))  # fmt: skip
        if 2 in settings["dims"] and 1 in settings["charts"]:
            alone = mmd_alone(payload, dataset)
            if alone.get("simclr-d2") and _mmd_verdict(alone) != "not run yet":
                lines.append(_probe_dependence(
                    name, "the MMD term alone drastically improves SimCLR at d = 2",
                    _mmd_verdict(alone), _mmd_verdict(alone, _CHART_PROBES),
                ))  # fmt: skip
        if entry is not None:
            lines += [
                line for d in settings["dims"] for line in against_floors(payload, dataset, d)
            ]
    return [*lines, FLOOR_RULE] if any("against the floors" in x for x in lines) else lines


# --------------------------------------------------------------------------- tables


_DROP_COLUMN = f"NT-Xent drop over the last {DROP_STEPS} steps, per seed (nats)"


def _accuracy_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    rows = []
    for dataset, entry in payload["datasets"].items():
        name = draw.data_name(payload, dataset, "test")
        for d in settings["dims"]:
            for kind, what in (("pca", "PCA of the pixels"), ("random", "untrained network")):
                found = {p: floor(entry, kind, d, p) for p in PROBES}
                rows.append({
                    "dataset": name, "d": d, "representation": what,
                    "seeds": len(found["linear"]),
                    **{f"{PROBES[p]} (%)": cell(values) for p, values in found.items()},
                    "per-chart probes (%)": "–", "steps": "–", "stopped by": "–",
                    _DROP_COLUMN: "–",
                })  # fmt: skip
            for key in draw.keys_at(settings, d):
                runs = [entry["models"][key]["seeds"][s] for s in seeds_of(entry, key)]
                capped = sum(run["criterion"]["capped"] for run in runs)
                steps = sorted({run["criterion"]["steps"] for run in runs})
                rows.append({
                    "dataset": name, "d": d, "representation": label(key),
                    "seeds": len(runs),
                    **{f"{PROBES[p]} (%)": cell(accuracies(entry, key, p)) for p in PROBES},
                    "per-chart probes (%)": cell(accuracies(entry, key, "chart_probe"))
                    if entry["models"][key]["charts"] else "–",
                    "steps": ", ".join(map(str, steps)) or "–",
                    "stopped by": "–" if not runs else
                    f"{len(runs) - capped} criterion, {capped} cap",
                    _DROP_COLUMN: ", ".join(
                        "–" if x is None else f"{x:.3f}"
                        for x in (ntxent_drop(r, settings) for r in runs)
                    ) or "–",
                })  # fmt: skip
    return pd.DataFrame(rows)


#: The comparisons' probes as the table names them: the rule's, then the per-chart reading.
_COMPARED = {**PROBES, "per_chart": "per-chart (A), linear (B): outside the rule"}


def _comparison_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    rows = []

    def add(dataset: str, d: int, a: str, b: str, found: Mapping[str, Any] | None) -> None:
        for probe, probe_name in _COMPARED.items():
            c = None if found is None else found[probe]
            rows.append({
                "dataset": draw.data_name(payload, dataset, "test"), "d": d, "A": label(a),
                "B": label(b), "probe": probe_name,
                "A − B (points)": math.nan if c is None else c.diff,
                "margin (points)": math.nan if c is None else c.margin,
                "outcome": "not trained" if c is None else f"A {c.outcome}"
                if c.outcome in ("wins", "loses") else c.outcome,
                "seeds": 0 if c is None else c.seeds,
            })  # fmt: skip

    for dataset in settings["datasets"]:
        for d, found in low_d(payload, dataset).items():
            a = found["msimclr"] if found else "msimclr-k8-d" + str(d)
            b = found["simclr"] if found else f"simclr-d{d}"
            add(dataset, d, a, b, found)
        if 2 in settings["dims"] and 1 in settings["charts"]:
            for key, found in mmd_alone(payload, dataset).items():
                add(dataset, 2, "msimclr-k1-d2", key, found)
    return pd.DataFrame(rows)


def _collapse_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    seeds = settings["init_seeds"]
    bound = ntxent_bound(settings)
    rows = []
    for dataset, entry in payload["datasets"].items():
        for d in settings["dims"]:
            for key in draw.keys_at(settings, d):
                model = entry["models"][key]
                runs = [model["seeds"][s] for s in seeds_of(entry, key)]
                last = [run["history"][-1]["ntxent"] for run in runs]
                simclr = not model["charts"]
                width = (model["hidden"] or d) if simclr else None
                fresh = (
                    100 * entry["collapsed_at_init"][f"d{d}"]
                    if simclr and not model["hidden"]
                    else None
                )
                rows.append({
                    "dataset": draw.data_name(payload, dataset, "train"), "d": d,
                    "model": label(key),
                    "head units alive after training, per seed":
                        ", ".join(f"{run['alive_units']}" for run in runs) + f" of {width}"
                        if runs and simclr else "–",
                    f"last-block NT-Xent (log(2B − 1) = {bound:.3f})": cell(last, 3),
                    f"seeds stuck (within {STUCK:g} of it)":
                        f"{sum(bound - x < STUCK for x in last)} of {len(runs)}" if runs else "–",
                    f"fresh heads collapsed, % of {seeds}": fresh,
                })  # fmt: skip
    return pd.DataFrame(rows)


def _chart_table(payload: Mapping[str, Any]) -> pd.DataFrame:
    settings = payload["settings"]
    rows = []
    for dataset, entry in payload["datasets"].items():
        for d in settings["dims"]:
            for k in (k for k in settings["charts"] if k > 1):
                runs = entry["models"][f"msimclr-k{k}-d{d}"]["seeds"].values()
                if not runs:
                    continue
                used = [sum(c > 0 for c in run["test_counts"]) for run in runs]
                largest = [100 * max(run["test_counts"]) / sum(run["test_counts"]) for run in runs]
                rows.append({
                    "dataset": draw.data_name(payload, dataset, "test"), "d": d, "k": k,
                    "seeds": len(used),
                    "charts holding test points": cell(used),
                    "largest chart's share (%)": cell(largest),
                    "uniform share (%)": 100 / k,
                })  # fmt: skip
    return pd.DataFrame(rows)


def tables(payload: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The chapter's tables.

    ``accuracy`` (every model and floor: test accuracy in %, mean ± std over seeds, under
    each probe; steps, what stopped training and NT-Xent's drop over the last
    :data:`~.budget.DROP_STEPS` steps), ``comparisons`` (every comparison the claims read, by the
    noise rule, and the same with MSimCLR's per-chart probe), ``collapse`` (every model's
    contrastive term at the end of training and SimCLR's projection heads) and ``charts``
    (how many charts MSimCLR fills, and how unevenly).
    """
    check_payload(payload)
    return {
        "accuracy": _accuracy_table(payload),
        "comparisons": _comparison_table(payload),
        "collapse": _collapse_table(payload),
        "charts": _chart_table(payload),
    }


# --------------------------------------------------------------------------- figures


def figures(payload: Mapping[str, Any]) -> dict[str, Figure]:
    """Every figure of a payload, by key: ``accuracy``, ``curves`` (training loss),
    ``ntxent`` (its contrastive term), ``chart-use`` (when some k > 1) and, when the profile
    has d = 2, ``embedding-<dataset>`` per dataset. The keys depend on the profile's settings
    only, whatever is trained."""
    check_payload(payload)
    settings = payload["settings"]
    out = {
        "accuracy": draw.accuracy(payload),
        "curves": draw.curves(payload),
        "ntxent": draw.curves(payload, "ntxent"),
    }
    if any(k > 1 for k in settings["charts"]):
        out["chart-use"] = draw.chart_use(payload)
    if 2 in settings["dims"]:
        for dataset in settings["datasets"]:
            out[f"embedding-{dataset}"] = draw.embedding(payload, dataset)
    return out


# --------------------------------------------------------------------------- claims

_LIMIT = (
    f"Reproduced needs at least {MIN_SEEDS} training seeds per compared model and every one "
    "of them stopped by the convergence criterion, not by the step cap; otherwise the best "
    "verdict is partly."
)

_LOW_D_RULE = (
    "At every d run, compare the best MSimCLR with k > 1 charts against the better SimCLR "
    "under the linear and the k-NN probe. The baseline is the better of SimCLR with the "
    "reference head and SimCLR with the width-64 head, and MSimCLR the better of its k > 1 "
    "models, each by mean linear-probe accuracy over its seeds: this pick of the best on "
    "each side is part of the rule, fixed before the runs, and the noise margin is not "
    "widened for it. " + NOISE_RULE + " A win at d is a win under both probes. "
    "Reproduced if MSimCLR wins at every d; partly if it wins at some d; within noise if it "
    "wins nowhere and loses nowhere (every difference inside the margin); not reproduced "
    "otherwise. " + _LIMIT
)

_MMD_RULE = (
    "At d = 2, compare MSimCLR with one chart (SimCLR plus the MMD term) against every SimCLR "
    "run (the reference's head, and the width-64 head that controls for its collapse) under "
    "both probes. " + NOISE_RULE + f" Reproduced if it wins over each under both probes and "
    f"leads each by more than {DRASTIC:g} points of linear-probe accuracy (drastically); "
    "partly if it wins over each; within noise if it loses to none under either probe but "
    "does not win over each; not reproduced otherwise. " + _LIMIT
)


def _verdict(strong: bool, weak: bool, limited: bool, noise: bool = False) -> str:
    """``reproduced`` only for the strong result without limits; ``partly`` for the strong
    one with limits or the weak one; ``within noise`` when neither holds but nothing was lost
    beyond the noise margin (``noise``); else ``not reproduced``."""
    if strong and not limited:
        return "reproduced"
    if strong or weak:
        return "partly"
    return "within noise" if noise else "not reproduced"


def _no_loss(found: Mapping[str, Any], probes: Sequence[str]) -> bool:
    """Whether no comparison in ``found`` (comparisons by probe) is lost beyond the margin
    under ``probes``."""
    return all(f[p].outcome != "loses" for f in found.values() for p in probes)


def _limited(measured: Mapping[str, Any]) -> bool:
    seeds = min(f["seeds"] for f in measured.values())
    return seeds < MIN_SEEDS or any(f["capped"] for f in measured.values())


def _low_d_verdict(found: Mapping[int, Any], probes: Sequence[str] = _RULE_PROBES) -> str:
    """The low-d rule's verdict from :func:`~.pairs.low_d`'s comparisons, read under ``probes``
    (the rule's, or :data:`_CHART_PROBES`); ``not run yet`` when nothing is measured or a
    comparison has too few seeds."""
    measured = {d: f for d, f in found.items() if f is not None}
    if not measured or _too_few(measured, probes):
        return "not run yet"
    wins = [d for d, f in measured.items() if all(f[p].outcome == "wins" for p in probes)]
    return _verdict(
        len(wins) == len(found), bool(wins), _limited(measured), _no_loss(measured, probes)
    )


def _mmd_verdict(found: Mapping[str, Any], probes: Sequence[str] = _RULE_PROBES) -> str:
    """The MMD rule's verdict from :func:`~.pairs.mmd_alone`'s comparisons, read under ``probes``
    (the first one is the one the drastic lead is measured with); ``not run yet`` when the
    reference head's comparison is not measured or a comparison has too few seeds."""
    measured = {key: f for key, f in found.items() if f is not None}
    if "simclr-d2" not in measured or _too_few(measured, probes):
        return "not run yet"
    complete = len(measured) == len(found)
    wins = all(all(f[p].outcome == "wins" for p in probes) for f in measured.values())
    drastic = wins and all(f[probes[0]].diff > DRASTIC for f in measured.values())
    return _verdict(
        drastic and complete, wins, _limited(measured) or not complete,
        _no_loss(measured, probes),
    )  # fmt: skip


def _mmd_limit(found: Mapping[str, Any]) -> str:
    """What keeps the MMD claim from a better verdict under the rule's probes: the
    comparison furthest from a win (a loss before a tie), else the smallest linear lead not
    above :data:`DRASTIC`, else an untrained SimCLR, a seed short of :data:`MIN_SEEDS` or a
    capped model ("" when nothing does)."""
    measured = {key: f for key, f in found.items() if f is not None}
    short = {"linear": "linear", "knn": "k-NN"}
    failing = {
        (key, p): f[p] for key, f in measured.items() for p in _RULE_PROBES
        if f[p].outcome != "wins"
    }  # fmt: skip
    if failing:  # the first of equals, in the order of the comparisons and the probes
        (key, probe), c = min(failing.items(), key=lambda item: item[1].diff - item[1].margin)
        return f"limited by {label(key)}: {short[probe]} {in_points(c)}"
    small = [key for key, f in measured.items() if f["linear"].diff <= DRASTIC]
    if small:
        key = min(small, key=lambda k: measured[k]["linear"].diff)
        lead = measured[key]["linear"].diff
        return f"limited by {label(key)}: linear {lead:+.1f}, not more than {DRASTIC:g} points"
    missing = [key for key, f in found.items() if f is None]
    if missing:
        return f"limited by {label(missing[0])}: not trained"
    if _limited(measured):
        return f"limited by fewer than {MIN_SEEDS} seeds or a capped model"
    return ""


def _reference(dataset: str) -> str:
    ref = REFERENCE[dataset]
    return (
        f"{_name(dataset)}: {resnet_name(dataset)} from scratch, {ref['epochs']} epochs of the "
        f"{ref['train_images']:,} training images at batch {ref['batch']} "
        f"({reference_steps(dataset):,} steps), τ = {ref['temperature']:g}, Adam at learning "
        f"rate {ref['lr']:g} (neurve's code)"
    )


def _section(dataset: str, topic: str) -> str:
    return "msimclr-cifar" if dataset == "cifar10" else f"msimclr-{topic}"


def _unmeasured(common: Mapping[str, Any]) -> scorecard.Claim:
    return scorecard.Claim(
        **common, verdict="not run yet", measured="–", data="–", budget="–", seeds=0
    )


def _low_d_text(dims: Sequence[int], dataset: str) -> str:
    """The low-d claim as the dims run test it: at the one d, or at low d naming them."""
    if len(dims) == 1:
        return f"At d = {dims[0]}, MSimCLR beats SimCLR on {_name(dataset)}."
    listed = ", ".join(map(str, dims[:-1])) + f" and {dims[-1]}"
    return (
        f"At low dimension d (here d = {listed}), MSimCLR beats SimCLR at the same d on "
        f"{_name(dataset)}."
    )


def _low_d_claim(payload: Mapping[str, Any], dataset: str) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": _low_d_text(payload["settings"]["dims"], dataset),
        "rule": _LOW_D_RULE,
        "anchor": "",
        "reference": _reference(dataset),
        "chapter": CHAPTER,
        "section": _section(dataset, "accuracy"),
    }
    found = low_d(payload, dataset)
    measured = {d: f for d, f in found.items() if f is not None}
    if not measured:
        return _unmeasured(common)
    text = "; ".join(
        f"d = {d}: {label(f['msimclr'])} − {label(f['simclr'])} {f['linear'].diff:+.1f} "
        f"linear, {f['knn'].diff:+.1f} k-NN"
        for d, f in measured.items()
    )
    if _too_few(measured, _RULE_PROBES):
        text = f"{_seeds_of_plan(payload, measured)}, too few to compare; points: {text}"
    else:
        text = f"points: {text}"
    return scorecard.Claim(
        **common,
        verdict=_low_d_verdict(found),
        measured=text,
        data=_data(payload, dataset),
        budget=_budget(payload, dataset),
        seeds=min(f["seeds"] for f in measured.values()),
    )


def _mmd_claim(payload: Mapping[str, Any], dataset: str) -> scorecard.Claim:
    common = {
        "source": "korman",
        "claim": "At d = 2, the MMD term alone (MSimCLR with one chart) drastically improves "
        f"SimCLR on {_name(dataset)}.",
        "rule": _MMD_RULE,
        "anchor": "",
        "reference": _reference(dataset),
        "chapter": CHAPTER,
        "section": _section(dataset, "mmd"),
    }
    found = mmd_alone(payload, dataset)
    measured = {key: f for key, f in found.items() if f is not None}
    if "simclr-d2" not in measured:
        return _unmeasured(common)
    text = "; ".join(
        f"− {label(key)} {f['linear'].diff:+.1f} linear, {f['knn'].diff:+.1f} k-NN"
        for key, f in measured.items()
    )
    if _too_few(measured, _RULE_PROBES):
        text = f"{_seeds_of_plan(payload, measured)}, too few to compare; one chart, points: {text}"
    else:
        limit = _mmd_limit(found)
        text = f"one chart, points: {text}" + (f"; {limit}" if limit else "")
    return scorecard.Claim(
        **common,
        verdict=_mmd_verdict(found),
        measured=text,
        data=_data(payload, dataset),
        budget=_budget(payload, dataset),
        seeds=min(f["seeds"] for f in measured.values()),
    )


def claims(load: scorecard.Loader) -> list[scorecard.Claim]:
    """This chapter's claims of Korman's blog (MSimCLR part), with verdicts from the results.

    MNIST and Fashion-MNIST come from the ``full`` profile, CIFAR-10 from the ``cifar10``
    profile; a claim none of whose comparisons has trained models, or one of whose
    comparisons has too few seeds, is "not run yet".

    Parameters
    ----------
    load : callable
        ``load(profile)`` -> that profile's saved payload, or None.
    """
    full, cifar = (
        empty_payload(profile) if (found := load(profile)) is None else found
        for profile in ("full", "cifar10")
    )
    return [
        _low_d_claim(full, "mnist"),
        _low_d_claim(full, "fashion-mnist"),
        _low_d_claim(cifar, "cifar10"),
        _mmd_claim(full, "mnist"),
        _mmd_claim(cifar, "cifar10"),
    ]
