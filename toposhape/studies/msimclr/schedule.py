"""Which models the chapter trains, in which order, and for how long.

A profile's models are SimCLR with the reference projection head and with a wide one, and
MSimCLR with k charts (k = 1 is SimCLR plus the MMD term alone), at every embedding
dimension d of the profile, on every dataset, for every training seed.
:func:`training_plan` lists them in the order the training command trains them: the
headline comparison first, seeds last. :func:`stop_point` is the convergence criterion
that says how many steps each model trains.

The criterion, stated once: a model trains ``min_steps`` steps; then, while the mean
training loss over the last ``flat_window`` (10 %) of its steps is lower than the mean over
the 10 % before by more than ``flat_threshold`` (relative), it trains ``extend_steps``
more, up to ``max_steps``. A model that stops at ``max_steps`` still improving is
recorded as *capped* (not converged by the criterion).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from toposhape.checks import check_float, check_int, check_mapping, check_sequence

__all__ = [
    "ModelSpec",
    "check_schedule",
    "model_keys",
    "next_steps",
    "step_schedule",
    "stop_point",
    "training_plan",
]


class ModelSpec(NamedTuple):
    """One model of a profile.

    Attributes
    ----------
    dataset : str
    key : str
        ``simclr-d{d}`` (reference head), ``simclr-h{h}-d{d}`` (head of hidden width h) or
        ``msimclr-k{k}-d{d}``.
    charts : int
        k, 0 for SimCLR.
    dim : int
        d.
    hidden : int or None
        Hidden width of SimCLR's projection head (None: d, the reference's).
    seed : int
        Training seed: initial weights, batch order, augmentations, MMD draws.
    """

    dataset: str
    key: str
    charts: int
    dim: int
    hidden: int | None
    seed: int

    @property
    def name(self) -> str:
        """``<dataset>-<key>-s<seed>``: the model's checkpoint name."""
        return f"{self.dataset}-{self.key}-s{self.seed}"


def _positive_ints(name: str, values: object, *, nonempty: bool = True) -> list[int]:
    values = check_sequence(name, values, nonempty=nonempty)
    return [check_int(f"{name}[{i}]", v, 1) for i, v in enumerate(values)]


def model_keys(settings: Mapping[str, Any]) -> list[tuple[str, int, int, int | None]]:
    """(key, k, d, hidden) of every model trained per dataset and seed.

    Per d: ``simclr-d{d}`` (k = 0, hidden None), then ``msimclr-k{k}-d{d}`` for every k of
    ``settings["charts"]``; then ``simclr-h{h}-d{d}`` (h = ``settings["wide_head"]``) for
    every d of ``settings["wide_head_dims"]``.

    Parameters
    ----------
    settings : mapping
        ``dims`` (non-empty), ``charts`` and ``wide_head_dims`` (sequences of ints >= 1)
        and ``wide_head`` (int >= 1).
    """
    check_mapping("settings", settings, "dims", "charts", "wide_head", "wide_head_dims")
    dims = _positive_ints("settings['dims']", settings["dims"])
    charts = _positive_ints("settings['charts']", settings["charts"], nonempty=False)
    wide_dims = _positive_ints(
        "settings['wide_head_dims']", settings["wide_head_dims"], nonempty=False
    )
    h = check_int("settings['wide_head']", settings["wide_head"], 1)
    keys = []
    for d in dims:
        keys.append((f"simclr-d{d}", 0, d, None))
        keys.extend((f"msimclr-k{k}-d{d}", k, d, None) for k in charts)
    keys.extend((f"simclr-h{h}-d{d}", 0, d, h) for d in wide_dims)
    return keys


def training_plan(settings: Mapping[str, Any]) -> list[ModelSpec]:
    """Every model of a profile, in the order the training command trains them.

    Seed by seed (``settings["seeds"]`` in order); within a seed, for every d in order, the
    reference SimCLR and every MSimCLR on every dataset in order (at the first d on the
    first dataset: the headline comparison), then the wide-head SimCLR models (the control
    for the reference head's collapse), d by d and dataset by dataset.

    Parameters
    ----------
    settings : mapping
        As for :func:`model_keys`, plus ``datasets`` (non-empty strings) and ``seeds``
        (non-empty, ints >= 0).
    """
    keys = model_keys(settings)
    check_mapping("settings", settings, "datasets", "seeds")
    datasets = check_sequence("settings['datasets']", settings["datasets"])
    seeds = check_sequence("settings['seeds']", settings["seeds"])
    seeds = [check_int(f"settings['seeds'][{i}]", s, 0) for i, s in enumerate(seeds)]
    headline = [key for key in keys if key[3] is None]
    wide = [key for key in keys if key[3] is not None]
    plan = []
    for seed in seeds:
        for group in (headline, wide):
            for d in dict.fromkeys(key[2] for key in group):
                for dataset in datasets:
                    plan.extend(
                        ModelSpec(dataset, key, k, dim, hidden, seed)
                        for key, k, dim, hidden in group
                        if dim == d
                    )
    return plan


def check_schedule(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The schedule settings of a profile, checked.

    ``block_steps`` (steps between checkpoints, >= 1), ``min_steps``, ``extend_steps`` and
    ``max_steps`` (multiples of ``block_steps``, ``max_steps >= min_steps``),
    ``flat_window`` in (0, 0.5] and ``flat_threshold`` >= 0.
    """
    names = ("block_steps", "min_steps", "extend_steps", "max_steps")
    check_mapping("settings", settings, *names, "flat_window", "flat_threshold")
    block = check_int("settings['block_steps']", settings["block_steps"], 1)
    out: dict[str, Any] = {"block_steps": block}
    for name in names[1:]:
        value = check_int(f"settings[{name!r}]", settings[name], block)
        if value % block:
            raise ValueError(
                f"settings[{name!r}] must be a multiple of block_steps={block}, got {value}"
            )
        out[name] = value
    if out["max_steps"] < out["min_steps"]:
        raise ValueError(
            f"settings['max_steps'] must be >= min_steps={out['min_steps']}, got {out['max_steps']}"
        )
    out["flat_window"] = check_float(
        "settings['flat_window']", settings["flat_window"], 0.0, 0.5, low_open=True
    )
    out["flat_threshold"] = check_float(
        "settings['flat_threshold']", settings["flat_threshold"], 0.0
    )
    return out


def step_schedule(settings: Mapping[str, Any]) -> list[int]:
    """The step counts at which the criterion is checked: min_steps, + extend_steps, …,
    up to and including max_steps."""
    s = check_schedule(settings)
    totals = list(range(s["min_steps"], s["max_steps"], s["extend_steps"]))
    return [*totals, s["max_steps"]]


def _flatness(losses: Sequence[float], blocks: int, fraction: float) -> dict[str, float]:
    """Mean loss over the last ``fraction`` of the first ``blocks`` blocks and over the
    ``fraction`` before, and the relative improvement from the one to the other."""
    window = max(1, int(fraction * blocks + 0.5))  # rounded half up
    last = losses[blocks - window : blocks]
    previous = losses[max(0, blocks - 2 * window) : blocks - window] or last
    last_mean, previous_mean = sum(last) / len(last), sum(previous) / len(previous)
    return {
        "last_mean": last_mean,
        "previous_mean": previous_mean,
        "relative_improvement": (previous_mean - last_mean) / abs(previous_mean),
    }


def stop_point(losses: Sequence[float], settings: Mapping[str, Any]) -> dict[str, Any] | None:
    """Where the criterion stops a model whose block losses so far are ``losses``.

    Parameters
    ----------
    losses : sequence of float
        Mean training loss of every block of ``block_steps`` steps, in order (finite).
    settings : mapping
        A profile's schedule settings (:func:`check_schedule`).

    Returns
    -------
    dict or None
        None if the model must train further (it has not reached the step count at which the
        criterion stops it). Else the criterion at that step count: ``steps``,
        ``last_mean``, ``previous_mean``, ``relative_improvement``, ``threshold``,
        ``converged`` (the improvement is at most the threshold) and ``capped`` (stopped at
        ``max_steps`` while still improving).
    """
    s = check_schedule(settings)
    losses = [float(v) for v in check_sequence("losses", losses, nonempty=False)]
    block = s["block_steps"]
    for total in step_schedule(settings):
        blocks = total // block
        if len(losses) < blocks:
            return None
        flat = _flatness(losses, blocks, s["flat_window"])
        converged = flat["relative_improvement"] <= s["flat_threshold"]
        if converged or total == s["max_steps"]:
            return {
                "steps": total,
                **flat,
                "threshold": s["flat_threshold"],
                "converged": converged,
                "capped": not converged,
            }
    raise AssertionError("unreachable: the schedule ends at max_steps")


def next_steps(done_steps: int, settings: Mapping[str, Any]) -> int:
    """The step count to train to next: the first of :func:`step_schedule` above
    ``done_steps`` (the criterion has not stopped the model at any count up to it)."""
    done_steps = check_int("done_steps", done_steps, 0)
    for total in step_schedule(settings):
        if total > done_steps:
            return total
    raise ValueError(f"done_steps={done_steps} is at or past max_steps; nothing is left to train")
