"""The benchmarks page as readers see it: ``results/bench/*.json`` in, tables and a figure out.

``make bench`` (the ``benchmarks`` package) writes one JSON record per benchmark and device:
``pershom_<device>.json`` (0-dim persistence, toposhape against its peers and the distance-
matrix floor), ``train_step_<device>.json`` (a training step with and without the
connectivity loss) and ``augment_<device>.json`` (the batched SimCLR augmentation against
per-image torchvision calls). :func:`load_records` reads them, :func:`tables` and
:func:`figures` show them and :func:`findings` says which targets they meet. Nothing here
times anything.
"""

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from toposhape.checks import check_mapping
from toposhape.results import read_json, results_dir
from toposhape.studies import style

#: Method names as ``benchmarks/bench_pershom.py`` records them: toposhape forward +
#: backward, the distance-matrix floor, and (on CUDA) toposhape's CPU kernel.
OURS = "toposhape (fwd+bwd)"
FLOOR = "floor: torch.cdist (fwd)"
OURS_CPU = "toposhape CPU kernel (fwd+bwd)"
#: Method names as ``benchmarks/bench_augment.py`` records them: the batched augmentation
#: and its peer, the same augmentation called image by image.
AUGMENT_OURS = "kornia (batched)"
AUGMENT_PEER = "torchvision v2 (per image)"

_LINESTYLES = ("-", "--", ":", "-.")

Records = Mapping[str, Mapping[str, Any]]


def load_records(folder: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every benchmark record of ``folder``, keyed by file stem (``"pershom_cpu"``, ...).

    Parameters
    ----------
    folder : path, optional
        Where ``make bench`` wrote them (default: the repository's ``results/bench``).

    Raises
    ------
    FileNotFoundError
        If the folder holds no ``*.json`` file.
    ValueError
        If a file is not JSON (naming it).
    """
    folder = Path(folder) if folder is not None else results_dir() / "bench"
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise FileNotFoundError(f"no benchmark results in {folder}: run `make bench`")
    hint = "rerun `make bench` to rewrite it"
    return {p.stem: read_json(p, "benchmark record", hint) for p in paths}


def _of(records: Records, benchmark: str) -> list[Mapping[str, Any]]:
    """The records of one benchmark (``"pershom"``, ``"train_step"`` or ``"augment"``), in
    file order."""
    check_mapping("records", records)
    return [r for r in records.values() if r.get("benchmark") == benchmark]


def machine(record: Mapping[str, Any]) -> str:
    """The device a record was timed on, in words: the GPU's name on CUDA, else the CPU's."""
    env = record["environment"]["device"]
    name = env.get("gpu") if str(record["device"]).startswith("cuda") else env["cpu"]
    return f"{record['device']} ({name})"


def sources(records: Records) -> str:
    """One Markdown sentence: which records the page shows (:func:`runs_table` says more)."""
    check_mapping("records", records)
    files = ", ".join(f"`{stem}.json`" for stem in records)
    return (
        f"Numbers loaded from the benchmark records in `results/bench/`: {files}. The table "
        "at the end of the page says where and when each was measured."
    )


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def persistence_table(records: Records) -> pd.DataFrame:
    """One row per (device, case, method): median and IQR, the ratios, why a peer was not run.

    ``other / ours`` is a peer's median over toposhape's (the CPU kernel's on CUDA),
    ``ours / floor`` toposhape's median over the distance matrix's. The ``note`` column
    (the reason a peer was skipped) is left out when no peer was.
    """
    rows = []
    for record in _of(records, "pershom"):
        for case in record["cases"]:
            for method, t in case["timings"].items():
                if method == OURS_CPU:
                    ratio = case["cpu_kernel_over_ours"]
                else:
                    ratio = case["peer_over_ours"].get(method, math.nan)
                rows.append(
                    {
                        "device": record["device"],
                        "case": case["name"],
                        "method": method,
                        "median ms": t["median_ms"],
                        "IQR ms": t["iqr_ms"],
                        "runs": t["repeats"],
                        "other / ours": ratio,
                        "ours / floor": case["ours_over_floor"] if method == OURS else math.nan,
                        "note": "",
                    }
                )
            for method, why in case.get("skipped", {}).items():
                rows.append(
                    {"device": record["device"], "case": case["name"], "method": method}
                    | {"median ms": math.nan, "IQR ms": math.nan, "runs": 0}
                    | {"other / ours": math.nan, "ours / floor": math.nan, "note": why}
                )
    columns = ["device", "case", "method", "median ms", "IQR ms", "runs"]
    table = pd.DataFrame(rows, columns=[*columns, "other / ours", "ours / floor", "note"])
    return table if table["note"].astype(bool).any() else table.drop(columns="note")


def persistence_summary(records: Records) -> pd.DataFrame:
    """Per device and case: fastest peer's time over ours (target > 1), ours / floor (≤ 3)."""
    rows = []
    for record in _of(records, "pershom"):
        for case in record["cases"]:
            peers = case["peer_over_ours"]
            fastest = min(peers, key=peers.get) if peers else "–"
            rows.append(
                {
                    "device": record["device"],
                    "case": case["name"],
                    "clouds × points": f"{case['branches']} × {case['points']}",
                    "ours ms": case["timings"][OURS]["median_ms"],
                    "fastest peer": fastest,
                    "fastest peer / ours": peers.get(fastest, math.nan),
                    "ours / floor": case["ours_over_floor"],
                }
            )
    return pd.DataFrame(rows)


def train_step_table(records: Records) -> pd.DataFrame:
    """One row per device: the step's median with λ = 0 and λ = 20, their ratio and its target,
    and the λ = 20 step in channels-last memory format and compiled, over the eager step."""
    rows = []
    for record in _of(records, "train_step"):
        t = record["timings"]
        variants = record.get("variant_over_eager", {})
        target = record["target"]
        rows.append(
            {
                "device": machine(record),
                "λ=0 median ms": t["lambda=0"]["median_ms"],
                "λ=20 median ms": t["lambda=20"]["median_ms"],
                "λ=20 / λ=0": record["ratio"],
                "target": f"< {target['ratio_below']:g}: {'met' if target['met'] else 'missed'}",
                "channels-last / eager": variants.get("channels_last", math.nan),
                "compiled / eager": variants.get("compiled", math.nan),
            }
        )
    return pd.DataFrame(rows)


def augment_table(records: Records) -> pd.DataFrame:
    """One row per device and image size: the batch, both medians, their ratio and its target.

    *torchvision / kornia* is the per-image peer's median over the batched augmentation's
    (above the record's target: the batched one is faster); *threads* is the torch
    intra-op thread count both ran with.
    """
    rows = []
    for record in _of(records, "augment"):
        above = record["target"]["peer_over_ours_above"]
        for case in record["cases"]:
            ratio = case["peer_over_ours"]
            rows.append(
                {
                    "device": machine(record),
                    "threads": record["threads"],
                    "images": case["name"],
                    "batch": case["batch"],
                    "kornia median ms": case["timings"][AUGMENT_OURS]["median_ms"],
                    "torchvision median ms": case["timings"][AUGMENT_PEER]["median_ms"],
                    "torchvision / kornia": ratio,
                    "target": f"> {above:g}: {'met' if ratio > above else 'missed'}",
                }
            )
    return pd.DataFrame(rows)


def runs_table(records: Records) -> pd.DataFrame:
    """One row per record: where and when it was measured, and how busy the machine was."""
    check_mapping("records", records)
    rows = []
    for stem, r in records.items():
        env = r["environment"]
        load = env.get("load_average_1_5_15min")
        rows.append(
            {
                "file": f"{stem}.json",
                "device": machine(r),
                "torch threads": env["device"]["torch_threads"],
                "commit": str(env["git_commit"])[:10] + (" (dirty)" if env["git_dirty"] else ""),
                "finished (UTC)": env["finished_utc"],
                "torch": env["versions"]["torch"],
                "load average 1 / 5 / 15 min": " / ".join(f"{x:.2f}" for x in load)
                if load
                else "–",
            }
        )
    return pd.DataFrame(rows)


def tables(records: Records) -> dict[str, pd.DataFrame]:
    """The page's tables: ``persistence_summary``, ``persistence`` (every method, long),
    ``train_step``, ``augment`` and ``runs``."""
    return {
        "persistence_summary": persistence_summary(records),
        "persistence": persistence_table(records),
        "train_step": train_step_table(records),
        "augment": augment_table(records),
        "runs": runs_table(records),
    }


def findings(records: Records) -> str:
    """Markdown bullets: for each device's persistence record, whether each target is met."""
    lines = []
    for record in _of(records, "pershom"):
        cases = record["cases"]
        worst_peer = min(
            (min(c["peer_over_ours"].values()) for c in cases if c["peer_over_ours"]),
            default=math.inf,
        )
        worst_floor = max(c["ours_over_floor"] for c in cases)
        device = record["device"].upper()
        lines += [
            f"- {device}, faster than every peer at every size: "
            f"**{'yes' if worst_peer > 1 else 'no'}** (smallest peer / ours ratio "
            f"{worst_peer:.2f}).",
            f"- {device}, within 3× of the floor everywhere: "
            f"**{'yes' if worst_floor <= 3 else 'no'}** (largest ours / floor ratio "
            f"{worst_floor:.2f}).",
        ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------


def plot_ratios(records: Records) -> Figure:
    """Peer / ours and ours / floor against the cloud size n, single clouds, every device."""
    fig = style.figure(3.3)
    ax_peer, ax_floor = fig.subplots(1, 2)
    colours: dict[str, Any] = {}
    for style_, record in zip(_LINESTYLES, _of(records, "pershom"), strict=False):
        cases = [c for c in record["cases"] if c["branches"] == 1]
        n = [c["points"] for c in cases]
        peers = dict.fromkeys(p for c in cases for p in c["peer_over_ours"])
        for peer in peers:
            colours.setdefault(peer, f"C{len(colours)}")
            xs = [c["points"] for c in cases if peer in c["peer_over_ours"]]
            ys = [c["peer_over_ours"][peer] for c in cases if peer in c["peer_over_ours"]]
            label = peer if len(_of(records, "pershom")) == 1 else f"{peer}, {record['device']}"
            ax_peer.plot(xs, ys, "o", ls=style_, color=colours[peer], label=label)
        floor = [c["ours_over_floor"] for c in cases]
        ax_floor.plot(n, floor, "o", ls=style_, color="k", label=record["device"])
    ax_peer.axhline(1.0, color="tab:red", lw=1, label="ours as fast")
    ax_floor.axhline(3.0, color="tab:red", lw=1, label="target: 3×")
    ax_peer.set_yscale("log")
    ax_peer.set_ylabel("peer time / ours")
    ax_floor.set_ylabel("ours / floor (cdist)")
    ax_floor.set_ylim(bottom=0)
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    ax_peer.yaxis.set_major_formatter(plain)
    for ax in (ax_peer, ax_floor):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plain)
        ax.set_xlabel("points n (one cloud)")
    ax_peer.set_title("above 1: ours faster")
    ax_floor.set_title("ours in distance matrices (≤ 3 wanted)")
    fig.legend(*ax_peer.get_legend_handles_labels(), loc="outside lower center", ncols=3)
    ax_floor.legend()
    return fig


def figures(records: Records) -> dict[str, Figure]:
    """The page's figures: ``ratios`` (:func:`plot_ratios`)."""
    check_mapping("records", records)
    return {"ratios": plot_ratios(records)}
