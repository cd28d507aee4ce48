"""Shared helpers of the benchmarks: timing, provenance, JSON output, tables.

Provenance and atomic writes come from :mod:`toposhape.results`, the one place
the project records where a number came from; this module adds what only
benchmarks need (peer versions, machine load, a timestamp).
"""

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toposhape.results import atomic_write_bytes, provenance, repo_root

PEERS = ("ripser", "giotto-ph", "gudhi", "torch-topological", "torchph")


@dataclass(frozen=True)
class Timing:
    """Wall times of repeated calls of one function.

    Attributes
    ----------
    times_ms : tuple of float
        One wall time per timed call, in milliseconds, in call order.
    """

    times_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        """Median wall time (ms)."""
        return float(np.median(self.times_ms))

    @property
    def iqr_ms(self) -> float:
        """Interquartile range of the wall times (ms)."""
        q1, q3 = np.percentile(self.times_ms, [25, 75])
        return float(q3 - q1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary with the raw times."""
        return {
            "median_ms": round(self.median_ms, 4),
            "iqr_ms": round(self.iqr_ms, 4),
            "repeats": len(self.times_ms),
            "times_ms": [round(t, 4) for t in self.times_ms],
        }


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device`` (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    fns: Mapping[str, Callable[[], object]],
    device: torch.device,
    repeats: int,
    budget_s: float,
    warmup: int = 1,
    min_repeats: int = 3,
) -> dict[str, Timing]:
    """Time several functions in interleaved rounds.

    Each round calls every function once, in order, timing each call with
    ``time.perf_counter`` (after synchronising ``device`` before and after).
    Interleaving spreads slow drifts of the machine (other processes, clock
    changes) over all functions alike.

    Parameters
    ----------
    fns : mapping of str to callable
        The functions to time, called without arguments.
    device : torch.device
        Synchronised around each call when it is a CUDA device.
    repeats : int
        Maximum number of timed rounds.
    budget_s : float
        Stop after the round in which the timed rounds' total wall time
        exceeds this, once ``min_repeats`` rounds are done.
    warmup : int, default 1
        Untimed rounds first.
    min_repeats : int, default 3
        Rounds run whatever the budget.

    Returns
    -------
    dict of str to Timing
        Same keys as ``fns``.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    spent = 0.0
    for done in range(1, max(repeats, min_repeats) + 1):
        for name, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            elapsed = time.perf_counter() - start
            times[name].append(1e3 * elapsed)
            spent += elapsed
        if done >= min_repeats and spent > budget_s:
            break
    return {name: Timing(tuple(ts)) for name, ts in times.items()}


def environment(started: float, params: Mapping[str, Any]) -> dict[str, Any]:
    """Provenance of a benchmark run.

    :func:`toposhape.results.provenance` (git commit and dirty flag, python,
    torch and numpy versions, CPU model, torch threads, GPU name) plus the
    versions of the peer libraries, the machine's load average and a UTC
    timestamp of the start.

    Parameters
    ----------
    started : float
        ``time.time()`` at the start of the run.
    params : mapping
        The run's settings (CLI arguments).
    """
    record = provenance(seed=0, started=started, params=params)
    for name in PEERS:
        try:
            record["versions"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            record["versions"][name] = None
    record["started_utc"] = datetime.fromtimestamp(started, timezone.utc).isoformat(
        timespec="seconds"
    )
    record["load_average_1_5_15min"] = [round(v, 2) for v in os.getloadavg()]
    return record


def write_json(path: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` as JSON to ``path`` atomically; relative paths are from the repo root."""
    path = Path(path)
    if not path.is_absolute():
        path = repo_root() / path
    atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return path


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned.

    Floats print with three decimals below 10 and one above; ``None`` prints as ``-``.
    """

    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        first, *rest = values
        parts = [first.ljust(widths[0])] + [v.rjust(w) for v, w in zip(rest, widths[1:])]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line([str(h) for h in headers]), rule, *(line(r) for r in cells)])


def devices(choice: str) -> list[torch.device]:
    """The devices a ``--device`` choice names.

    Parameters
    ----------
    choice : {"cpu", "cuda", "all"}
        ``"all"`` is the CPU plus CUDA when it is available.

    Raises
    ------
    RuntimeError
        If ``"cuda"`` is asked for and CUDA is not available.
    """
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch.cuda.is_available() is False")
    if choice == "all":
        return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    return [torch.device(choice)]
