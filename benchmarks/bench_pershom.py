"""Benchmark 0-dim Vietoris–Rips persistence: toposhape against peers and the floor.

For each case, in one run on the same float32 point clouds (10-d, standard
normal, seed 0), this times

* ``toposhape``: ``vr_persistence0`` forward + backward (``autograd.grad`` of
  the summed death times);
* the floor: ``torch.cdist`` alone (the distance matrices the MST kernel
  needs, computed as toposhape computes them), forward only;
* the peers: ripser, giotto-ph (``n_threads=1`` and ``n_threads=-1``, i.e.
  all cores), gudhi (Rips complex up to edges, dimension-0 persistence),
  torch-topological's ``VietorisRipsComplex(dim=0)`` forward + backward, and
  on CUDA torchph when it is importable;
* on CUDA, toposhape's own CPU kernel on a CPU copy of the same clouds.

CUDA adds a case of n = 10 000. A peer is not run on a single-cloud case when its
time on the previous single-cloud case, scaled by (n / n_previous)², exceeds
``MAX_PROJECTED_S`` seconds a call (every exact dense method is at least
quadratic in n); the record says which peers were skipped and why.

The non-differentiable CPU peers get NumPy copies of the clouds made before
timing. The training case (16 clouds of 100 points, ℓ1) is the input of the
connectivity loss: a (100, 160) latent batch viewed as 16 branches; toposhape
takes all 16 in one call, the peers loop over the 16 clouds (torch-topological
loops internally over the batch). Before timing, every case checks that
toposhape's death times equal ripser's finite deaths (sorted) to 1e-4.

Run ``python -m benchmarks.bench_pershom --help`` for the options.
"""

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gph
import gudhi
import numpy as np
import ripser
import scipy.spatial.distance
import torch
from torch_topological.nn import VietorisRipsComplex

from benchmarks.common import Benchmark, format_table, time_interleaved
from toposhape.losses import branch_clouds
from toposhape.pershom import pairwise_distances, vr_persistence0

DIM = 10
SEED = 0
TOLERANCE = 1e-4
OURS = "toposhape (fwd+bwd)"
FLOOR = "floor: torch.cdist (fwd)"
OURS_CPU = "toposhape CPU kernel (fwd+bwd)"
TORCHPH = "torchph (fwd+bwd)"
#: Timed in every case, never skipped, not peers.
OWN = (OURS, FLOOR, OURS_CPU)
MAX_PROJECTED_S = 10.0
#: torchph builds the whole filtration of edges and triangles on the GPU: at n = 10 000
#: it asked for 1862 GiB (and, in another run, failed with an illegal memory access,
#: which leaves the CUDA context unusable), so it is not run on larger clouds.
TORCHPH_MAX_POINTS = 2000
SKLEARN_METRICS = {1.0: "manhattan", 2.0: "euclidean"}


@dataclass(frozen=True)
class Case:
    """One benchmark input: ``branches`` clouds of ``points`` points in ``DIM`` dims.

    Attributes
    ----------
    name : str
        Row label.
    points : int
        Points per cloud.
    branches : int
        Clouds, taken as the blocks of a (points, branches * DIM) latent batch.
    p : float
        ℓp metric (1 or 2).
    """

    name: str
    points: int
    branches: int
    p: float


CASES = (
    Case("n=100", 100, 1, 2.0),
    Case("n=500", 500, 1, 2.0),
    Case("n=2000", 2000, 1, 2.0),
    Case("16 x 100, l1", 100, 16, 1.0),
)

#: CUDA adds one large cloud, where a whole-GPU kernel should pull away.
CUDA_CASES = (*CASES[:3], Case("n=10000", 10000, 1, 2.0), CASES[3])


def latent(case: Case, device: torch.device) -> torch.Tensor:
    """The case's latent batch, shape (points, branches * DIM), a leaf requiring grad."""
    generator = torch.Generator().manual_seed(SEED)
    z = torch.randn(case.points, case.branches * DIM, generator=generator)
    return z.to(device).requires_grad_()


def ours(z: torch.Tensor, case: Case) -> tuple[torch.Tensor, ...]:
    """toposhape forward + backward on all clouds of the case at once."""
    deaths = vr_persistence0(branch_clouds(z, case.branches), case.p)
    return torch.autograd.grad(deaths.sum(), z)


def run_ripser(x: np.ndarray, p: float) -> np.ndarray:
    """ripser's dimension-0 diagram of one cloud, shape (n, 2) with one infinite death."""
    return ripser.ripser(x, maxdim=0, metric=SKLEARN_METRICS[p])["dgms"][0]


def run_giotto(x: np.ndarray, p: float, n_threads: int) -> np.ndarray:
    """giotto-ph's dimension-0 diagram of one cloud."""
    result = gph.ripser_parallel(x, maxdim=0, metric=SKLEARN_METRICS[p], n_threads=n_threads)
    return result["dgms"][0]


def run_gudhi(x: np.ndarray, p: float) -> np.ndarray:
    """gudhi's dimension-0 intervals of one cloud (ℓp via a distance matrix when p != 2)."""
    if p == 2.0:
        rips = gudhi.RipsComplex(points=x)
    else:
        rips = gudhi.RipsComplex(
            distance_matrix=scipy.spatial.distance.cdist(x, x, metric="minkowski", p=p)
        )
    tree = rips.create_simplex_tree(max_dimension=1)
    tree.persistence()
    return tree.persistence_intervals_in_dimension(0)


def run_torch_topological(
    z: torch.Tensor, case: Case, complex_: VietorisRipsComplex
) -> tuple[torch.Tensor, ...]:
    """torch-topological forward + backward (it loops over the clouds of the batch)."""
    infos = complex_(branch_clouds(z, case.branches))
    total = sum(info[0].diagram[:, 1].sum() for info in infos)
    return torch.autograd.grad(total, z)


def torchph_status() -> str | None:
    """None when torchph can be used on CUDA, else why not (one line).

    torchph compiles its CUDA code when first imported and only warns when that fails,
    so a tiny call is made to be sure.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchph.pershom import vr_persistence

            vr_persistence(torch.rand(3, 3, device="cuda"), 0, 0)
    except Exception as exc:  # a missing package, a failed build or a failing call alike
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    return None


def run_torchph(z: torch.Tensor, case: Case) -> tuple[torch.Tensor, ...]:
    """torchph forward + backward looping over the clouds.

    ℓ1 clouds go through ``vr_persistence_l1`` on the points (as the reference's
    connectivity loss does); ℓ2 clouds through ``vr_persistence`` on ``torch.cdist``.
    """
    from torchph.pershom import vr_persistence, vr_persistence_l1

    def deaths(c: torch.Tensor) -> torch.Tensor:
        if case.p == 1.0:
            return vr_persistence_l1(c, 0, 0)[0][0][:, 1]
        return vr_persistence(torch.cdist(c, c, p=case.p), 0, 0)[0][0][:, 1]

    total = sum(deaths(c).sum() for c in branch_clouds(z, case.branches))
    return torch.autograd.grad(total, z)


def methods(z: torch.Tensor, case: Case, torchph: bool = False) -> dict[str, Callable[[], object]]:
    """Everything timed for ``case`` on ``z``'s device, toposhape and the floor first.

    Parameters
    ----------
    z : Tensor, shape (points, branches * DIM)
        The case's latent batch (a leaf requiring grad).
    case : Case
    torchph : bool, default False
        Time torchph too (CUDA only; see :func:`torchph_status`).
    """
    clouds = branch_clouds(z.detach(), case.branches)
    complex_ = VietorisRipsComplex(dim=0, p=case.p)
    fns: dict[str, Callable[[], object]] = {
        OURS: lambda: ours(z, case),
        FLOOR: lambda: pairwise_distances(clouds, case.p),
    }
    if z.device.type == "cuda":
        z_cpu = z.detach().cpu().requires_grad_()
        fns[OURS_CPU] = lambda: ours(z_cpu, case)
    if z.device.type == "cpu":
        arrays = [np.ascontiguousarray(c) for c in clouds.numpy()]
        fns["ripser"] = lambda: [run_ripser(x, case.p) for x in arrays]
        fns["giotto-ph n_threads=1"] = lambda: [run_giotto(x, case.p, 1) for x in arrays]
        fns["giotto-ph n_threads=-1"] = lambda: [run_giotto(x, case.p, -1) for x in arrays]
        fns["gudhi"] = lambda: [run_gudhi(x, case.p) for x in arrays]
    fns["torch-topological (fwd+bwd)"] = lambda: run_torch_topological(z, case, complex_)
    if torchph and z.device.type == "cuda":
        fns[TORCHPH] = lambda: run_torchph(z, case)
    return fns


def too_slow(
    fns: dict[str, Callable[[], object]], case: Case, previous: dict[str, tuple[int, float]]
) -> dict[str, str]:
    """Peers that would not finish ``case``, with why.

    torchph above ``TORCHPH_MAX_POINTS``; on a single cloud, a peer projected to take over
    ``MAX_PROJECTED_S`` a call.

    Parameters
    ----------
    fns : dict
        The case's methods.
    case : Case
    previous : dict of str to (int, float)
        Per method, (n, median ms) on the last single-cloud case timed.
    """
    skipped = {}
    if TORCHPH in fns and case.points > TORCHPH_MAX_POINTS:
        skipped[TORCHPH] = (
            f"not run: n > {TORCHPH_MAX_POINTS}; torchph allocates its whole filtration on the "
            "GPU (at n = 10000 it asked for 1862 GiB)"
        )
    if case.branches != 1:
        return skipped
    for name in fns:
        if name in OWN or name in skipped or name not in previous:
            continue
        n, ms = previous[name]
        projected_s = ms / 1e3 * (case.points / n) ** 2
        if projected_s > MAX_PROJECTED_S:
            skipped[name] = (
                f"not run: {ms / 1e3:.2f} s at n={n} projects to {projected_s:.0f} s a call "
                f"at n={case.points} (x (n / {n})^2), over {MAX_PROJECTED_S:g} s"
            )
    return skipped


def check_against_ripser(z: torch.Tensor, case: Case) -> float:
    """Largest |toposhape death - ripser death| over the case's clouds.

    Raises
    ------
    RuntimeError
        If a cloud's sorted death times differ from ripser's finite deaths by
        more than ``TOLERANCE`` or in number.
    """
    clouds = branch_clouds(z.detach(), case.branches)
    deaths = vr_persistence0(clouds, case.p).cpu().numpy()
    worst = 0.0
    for i, x in enumerate(clouds.cpu().numpy()):
        diagram = run_ripser(np.ascontiguousarray(x), case.p)
        reference = np.sort(diagram[np.isfinite(diagram[:, 1]), 1])
        if reference.shape != deaths[i].shape:
            raise RuntimeError(
                f"{case.name}, cloud {i} on {z.device}: toposhape gives {deaths[i].size} deaths, "
                f"ripser {reference.size} finite ones"
            )
        worst = max(worst, float(np.abs(deaths[i] - reference).max()))
    if worst > TOLERANCE:
        raise RuntimeError(
            f"{case.name} on {z.device}: toposhape's deaths differ from ripser's by {worst:.3g} "
            f"> {TOLERANCE}"
        )
    return worst


def out_of_memory(fns: dict[str, Callable[[], object]], device: torch.device) -> dict[str, str]:
    """Peers whose first call runs out of GPU memory, with the error's first line.

    On CUDA each peer is called once before timing (an extra warm-up); toposhape and the
    floor are not tried (they must run).
    """
    if device.type != "cuda":
        return {}
    failed = {}
    for name, fn in fns.items():
        if name in OWN:
            continue
        try:
            fn()
        except torch.OutOfMemoryError as exc:
            failed[name] = f"not run: out of GPU memory ({str(exc).splitlines()[0][:160]})"
            torch.cuda.empty_cache()
    return failed


def bench_case(
    case: Case,
    device: torch.device,
    repeats: int,
    budget_s: float,
    torchph: bool = False,
    previous: dict[str, tuple[int, float]] | None = None,
) -> dict[str, Any]:
    """Check and time one case; returns its JSON record.

    Parameters
    ----------
    case : Case
    device : torch.device
    repeats, budget_s
        As for :func:`benchmarks.common.time_interleaved`.
    torchph : bool, default False
        Time torchph too.
    previous : dict, optional
        Per method, (n, median ms) of the last single-cloud case, for :func:`too_slow`;
        updated in place with this case's times when it is a single cloud.
    """
    previous = {} if previous is None else previous
    z = latent(case, device)
    max_error = check_against_ripser(z, case)
    fns = methods(z, case, torchph)
    skipped = too_slow(fns, case, previous)
    fns = {name: fn for name, fn in fns.items() if name not in skipped}
    skipped |= out_of_memory(fns, device)
    fns = {name: fn for name, fn in fns.items() if name not in skipped}
    print(f"{device.type} {case.name}: timing {len(fns)} methods", flush=True)
    timings = time_interleaved(fns, device, repeats, budget_s)
    if case.branches == 1:
        previous.update({name: (case.points, t.median_ms) for name, t in timings.items()})
    ours_ms = timings[OURS].median_ms
    record = {
        **asdict(case),
        "dim": DIM,
        "dtype": "float32",
        "max_abs_diff_vs_ripser": max_error,
        "timings": {name: t.to_dict() for name, t in timings.items()},
        "peer_over_ours": {
            name: t.median_ms / ours_ms for name, t in timings.items() if name not in OWN
        },
        "ours_over_floor": ours_ms / timings[FLOOR].median_ms,
        "skipped": skipped,
    }
    if OURS_CPU in timings:
        record["cpu_kernel_over_ours"] = timings[OURS_CPU].median_ms / ours_ms
    return record


def targets(cases: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Whether toposhape beats every peer everywhere and stays within 3x of the floor."""
    slower = [
        f"{c['name']}: {peer} ({ratio:.2f}x)"
        for c in cases
        for peer, ratio in c["peer_over_ours"].items()
        if ratio <= 1.0
    ]
    far = [f"{c['name']} ({c['ours_over_floor']:.2f}x)" for c in cases if c["ours_over_floor"] > 3]
    return {
        "faster than every peer at every size": {"met": not slower, "misses": slower},
        "within 3x of the floor": {"met": not far, "misses": far},
    }


def bench_device(device: torch.device, repeats: int, budget_s: float) -> dict[str, Any]:
    """All cases on one device; returns the JSON record (without provenance).

    On CUDA the record also says whether torchph could be timed (``torchph``: null when
    it was, else why not).
    """
    record: dict[str, Any] = {"device": str(device)}
    use_torchph = False
    if device.type == "cuda":
        record["torchph"] = torchph_status()
        use_torchph = record["torchph"] is None
    previous: dict[str, tuple[int, float]] = {}
    cases = [
        bench_case(case, device, repeats, budget_s, use_torchph, previous)
        for case in (CUDA_CASES if device.type == "cuda" else CASES)
    ]
    return {**record, "cases": cases, "targets": targets(cases)}


def table(record: dict[str, Any]) -> str:
    """The per-method table of one device's record."""
    rows = []
    for c in record["cases"]:
        for name, t in c["timings"].items():
            rows.append(
                [
                    c["name"],
                    name,
                    t["median_ms"],
                    t["iqr_ms"],
                    t["repeats"],
                    c.get("cpu_kernel_over_ours")
                    if name == OURS_CPU
                    else c["peer_over_ours"].get(name),
                    c["ours_over_floor"] if name == FLOOR else None,
                ]
            )
        rows += [[c["name"], name, None, None, 0, None, None] for name in c.get("skipped", {})]
    headers = ["case", "method", "median ms", "IQR ms", "runs", "other/ours", "ours/floor"]
    lines = [f"0-dim VR persistence on {record['device']}", format_table(headers, rows)]
    if record.get("torchph"):
        lines.append(f"torchph not timed: {record['torchph']}")
    lines += [
        f"{c['name']}, {name}: {why}"
        for c in record["cases"]
        for name, why in c.get("skipped", {}).items()
    ]
    for target, verdict in record["targets"].items():
        misses = "; ".join(verdict["misses"])
        lines.append(f"{target}: {'MET' if verdict['met'] else 'MISSED ' + misses}")
    return "\n".join(lines)


def summary(record: dict[str, Any]) -> list[list[object]]:
    """Per case: the fastest peer's time over ours (target > 1) and ours over the floor (<= 3)."""
    rows: list[list[object]] = []
    for c in record["cases"]:
        floor = c["ours_over_floor"]
        if c["peer_over_ours"]:
            fastest = min(c["peer_over_ours"].values())
            rows.append([c["name"], "fastest peer / ours", fastest, "> 1", fastest > 1])
        rows.append([c["name"], "ours / floor", floor, "<= 3", floor <= 3])
    return rows


BENCHMARK = Benchmark(
    name="pershom",
    description=__doc__.splitlines()[0],
    bench_device=bench_device,
    table=table,
    summary=summary,
    repeats=20,
    budget_s=5.0,
)

if __name__ == "__main__":
    BENCHMARK.main()
