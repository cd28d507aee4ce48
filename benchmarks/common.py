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
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from toposhape.checks import check_float, check_int
from toposhape.cli import Parser, run_command
from toposhape.results import atomic_write_bytes, json_ready, provenance, repo_root, writable_folder

#: Libraries whose versions every record keeps besides the provenance's: the persistence
#: peers, and kornia (the batched augmentation; its peer torchvision is in the provenance).
PEERS = ("ripser", "giotto-ph", "gudhi", "torch-topological", "torchph", "kornia")


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
        Maximum number of timed rounds (at least ``min_repeats`` run).
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
    CUDA version torch was built with, the versions of the libraries in ``PEERS``, the
    machine's load average and a UTC timestamp of the start.

    Parameters
    ----------
    started : float
        ``time.time()`` at the start of the run.
    params : mapping
        The run's settings (CLI arguments).
    """
    record = provenance(seed=0, started=started, params=params)
    record["versions"]["torch_cuda"] = torch.version.cuda
    for name in PEERS:
        try:
            record["versions"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            record["versions"][name] = None
    record["started_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    record["load_average_1_5_15min"] = [round(v, 2) for v in os.getloadavg()]
    return record


def output_path(path: str | Path) -> Path:
    """``path``, relative paths taken from the repo root."""
    path = Path(path)
    return path if path.is_absolute() else repo_root() / path


def write_json(path: str | Path, record: Mapping[str, Any]) -> Path:
    """Write ``record`` as JSON to ``path`` atomically; relative paths are from the repo root.

    The record is converted as results files are (:func:`toposhape.results.json_ready`):
    numpy numbers become Python ones; a NaN raises ``ValueError`` naming its key path.
    """
    path = output_path(path)
    text = json.dumps(json_ready(record), indent=1, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode())
    return path


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: numeric columns right-aligned, the others left-aligned.

    Floats print with three decimals below 10 and one above; ``None`` prints as ``-``.
    """

    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    numeric = [
        all(
            isinstance(r[i], int | float) and not isinstance(r[i], bool)
            for r in rows
            if r[i] is not None
        )
        for i in range(len(headers))
    ]
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def devices(choice: str) -> list[torch.device]:
    """The devices a ``--device`` choice names.

    Parameters
    ----------
    choice : {"cpu", "cuda", "all"}
        ``"all"`` is the CPU plus CUDA when it is available.

    Raises
    ------
    ValueError
        If ``"cuda"`` is asked for and CUDA is not available.
    """
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch.cuda.is_available() is False")
    if choice == "all":
        return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    return [torch.device(choice)]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark runnable on several devices and from the command line.

    Attributes
    ----------
    name : str
        Names the output file ``results/bench/<name>_<device>.json``.
    description : str
        One line for ``--help``.
    bench_device : callable
        ``bench_device(device, repeats, budget_s)`` measures on one device and
        returns a JSON-ready record.
    table : callable
        Renders such a record as text.
    summary : callable
        Turns such a record into rows ``(case, measure, value, target, met)``
        for the combined table of ``python -m benchmarks``.
    repeats : int
        Default maximum of timed rounds.
    budget_s : float
        Default time after which no new round starts.
    """

    name: str
    description: str
    bench_device: Callable[[torch.device, int, float], dict[str, Any]]
    table: Callable[[dict[str, Any]], str]
    summary: Callable[[dict[str, Any]], list[list[object]]]
    repeats: int
    budget_s: float

    def run(
        self, device: str, repeats: int, budget_s: float, out: str | None = None
    ) -> list[tuple[Path, dict[str, Any]]]:
        """Measure on each device ``device`` names; write one JSON per device and print tables.

        Parameters
        ----------
        device : {"cpu", "cuda", "all"}
        repeats : int
            Maximum timed rounds (per case where there are several).
        budget_s : float
            Time after which no new round starts (at least 3 rounds run).
        out : str, optional
            Output path; ``{device}`` in it is replaced by the device type.
            Default ``results/bench/<name>_{device}.json``.

        Returns
        -------
        list of (Path, dict)
            The files written and their records, one per device.

        Raises
        ------
        ValueError
            If ``out`` has a placeholder other than ``{device}``, or CUDA is asked for but
            not available.
        OSError
            If an output folder is not writable (checked before measuring).
        """
        out = out or f"results/bench/{self.name}_{{device}}.json"
        chosen = devices(device)
        for dev in chosen:
            writable_folder(output_path(output_name(out, dev.type)).parent, "output folder")
        written = []
        for dev in chosen:
            started = time.time()
            record = {"benchmark": self.name, **self.bench_device(dev, repeats, budget_s)}
            params = {"device": dev.type, "repeats": repeats, "budget_s": budget_s}
            record["environment"] = environment(started, params)
            path = write_json(output_name(out, dev.type), record)
            print(self.table(record), f"wrote {path}\n", sep="\n", flush=True)
            written.append((path, record))
        return written

    def main(self, argv: Sequence[str] | None = None) -> NoReturn:
        """Parse ``--device``, ``--repeats``, ``--budget-s`` and ``--out``, :meth:`run`, exit.

        Raises ``SystemExit`` with the exit status; errors are reported as
        :func:`toposhape.cli.run_command` reports them.
        """
        raise SystemExit(run_command(self._command, argv))

    def _command(self, argv: Sequence[str] | None) -> None:
        cli = Parser(prog=f"python -m benchmarks.bench_{self.name}", description=self.description)
        add_options(cli, self.repeats, self.budget_s)
        cli.add_argument(
            "--out",
            help=f"output JSON, {{device}} replaced by the device type "
            f"(default results/bench/{self.name}_{{device}}.json)",
        )
        args = cli.parse_args(argv)
        check_options(args.repeats, args.budget_s)
        self.run(args.device, args.repeats, args.budget_s, args.out)


def output_name(out: str, device: str) -> str:
    """``out`` with ``{device}`` replaced by ``device``.

    Raises
    ------
    ValueError
        If ``out`` holds another placeholder or an unpaired brace.
    """
    try:
        return out.format(device=device)
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"--out {out!r}: the only placeholder allowed is {{device}} (braces: {{{{ }}}})"
        ) from exc


def add_options(cli: Parser, repeats: int | None, budget_s: float | None) -> None:
    """Add the ``--device``, ``--repeats`` and ``--budget-s`` options to ``cli``.

    A default of None stands for each benchmark's own default.
    """
    cli.add_argument("--device", choices=("cpu", "cuda", "all"), default="all")
    cli.add_argument("--repeats", type=int, default=repeats, help="max timed rounds")
    cli.add_argument(
        "--budget-s",
        type=float,
        default=budget_s,
        help="seconds of timed rounds after which no new round starts (>= 3 rounds run)",
    )


def check_options(repeats: int, budget_s: float) -> None:
    """Raise ``ValueError`` naming the option: ``repeats`` must be >= 1, ``budget_s`` finite >= 0.

    (``TypeError`` if either is not a number.)
    """
    check_int("--repeats", repeats, 1)
    check_float("--budget-s", budget_s, 0.0)
