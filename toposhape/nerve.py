"""Fuzzy Čech nerves of atlas memberships and their persistence barcodes.

An *atlas* representation assigns every sample ``x`` chart memberships
``q(x) ∈ Δ^k``: ``k`` non-negative numbers that sum to 1, ``q_j(x) = p(J=j | X=x)``.
Korman ("Autoencoding topology", 2018) defines the strength of the intersection of
two charts ``j0`` and ``j1`` as

    u_{j0 j1} = ½ ( E_{x~p(X|J=j0)} p(J=j1|X=x) + E_{x~p(X|J=j1)} p(J=j0|X=x) ),

and estimates it from samples ``x_1..x_N`` (with ``p(x|J=j) ∝ q_j(x)``) as

    u_{j0 j1} ≈ ½ ( Σ_i q_{j0}(x_i) q_{j1}(x_i) / Σ_i q_{j0}(x_i)
                  + Σ_i q_{j0}(x_i) q_{j1}(x_i) / Σ_i q_{j1}(x_i) ).

The blog post prints this estimate without the factor ½; with it, the estimate
matches the definition (a mean of two conditional expectations of
probabilities) and lies in ``[0, 1]``. :func:`pair_overlaps` computes it.

Extended to higher simplices (:func:`simplex_strengths`), these values form a
*fuzzy Čech nerve*: thresholding at ``ε`` keeps the simplices with
``u_σ ≥ ε`` and gives a simplicial complex, and letting ``ε`` fall from 1 to 0
gives a filtration whose persistence barcodes (:func:`nerve_persistence`)
describe the topology the atlas has learned. Two rules are provided:

* ``"product"``: ``u_σ`` is the mean over ``j ∈ σ`` of
  ``Σ_x Π_{i∈σ} q_i(x) / Σ_x q_j(x)``, the estimate above for pairs;
* ``"min"``: the paper's "simpler method for defining overlaps for a given ε":
  chart ``j`` contains ``x`` when ``q_j(x) ≥ ε``, and ``σ`` is present when some
  sample lies in all its charts, i.e. ``u_σ = max_x min_{j∈σ} q_j(x)``.

Two filtration scales are offered. ``scale="linear"`` reports bars in units
``t = 1 − ε`` (vertices at ``t = 0``, a simplex at ``t = 1 − u_σ``), so bars are
born and die in ``[0, 1]``. A learned atlas with low-entropy memberships has all
its overlaps in a narrow band near ε = 0 (neighbouring charts share a few per cent
of their mass, the others far less), so ``scale="log"`` measures in decades,
``t = −log10 ε``: a simplex at ``−log10 u_σ`` and a chart at the value of its
strongest edge (it enters with its first overlap, so a chart adds a long H0 bar
only if it really overlaps nothing). Persistence pairs do not depend on a monotone
change of scale; only the lengths, and so the reading "a bar is long", do.
Essential classes die at ``+inf`` in both scales.
"""

import itertools
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from toposhape.checks import check_choice, check_float, check_int

RULES = ("product", "min")
SCALES = ("linear", "log")

# Tolerances of check_memberships.
NEGATIVE_TOL = 1e-6
ROW_SUM_ATOL = 1e-4

#: Default cap on the number of simplices (vertices included) a nerve may have before it
#: is built: the complex grows like the binomial coefficients of the number of charts,
#: so a large ``max_dim`` would otherwise run for hours. The book's nerves (at most 16
#: charts up to dimension 3) have at most 2,516; raise the cap with the ``max_simplices``
#: keyword.
MAX_SIMPLICES = 100_000


def check_memberships(q: Any, name: str = "q") -> np.ndarray:
    """Validate chart memberships and return them as a float64 array.

    Parameters
    ----------
    q : array_like or Tensor, shape (N, k)
        Memberships of ``N`` samples in ``k`` charts; each row lies on the
        probability simplex. A torch tensor is detached and copied to the CPU.
    name : str
        Name of the argument, used in error messages.

    Returns
    -------
    ndarray of float64, shape (N, k)
        A copy of ``q``; entries in ``[-1e-6, 0)`` are set to 0. A chart with
        zero total membership is allowed.

    Raises
    ------
    TypeError
        If ``name`` is not a string, or ``q`` does not hold real numbers (strings,
        objects, booleans or complex numbers).
    ValueError
        If ``q`` is ragged or not 2-D, has no samples or no charts, has non-finite or
        negative (below ``-1e-6``) entries, or a row whose sum differs from 1 by
        more than ``1e-4``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if isinstance(q, torch.Tensor):  # of any device; float64 holds every real dtype
        if q.dtype == torch.bool or q.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {q.dtype}")
        q = q.detach().cpu().double().numpy()
    try:
        q = np.asarray(q)
    except ValueError as error:  # a ragged nested sequence
        raise ValueError(f"{name} must be a 2-D array of memberships: {error}") from None
    if q.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {q.dtype}")
    q = q.astype(np.float64)  # a copy: tiny negatives are zeroed below
    if q.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of memberships of shape (N, k), got shape {q.shape}"
        )
    if q.shape[0] < 1 or q.shape[1] < 1:
        raise ValueError(f"{name} needs at least 1 sample and 1 chart, got shape {q.shape}")
    if not np.isfinite(q).all():
        raise ValueError(f"{name} contains NaN or inf; memberships must be finite")
    if q.min() < -NEGATIVE_TOL:
        i, j = np.unravel_index(np.argmin(q), q.shape)
        raise ValueError(
            f"{name} must be non-negative (memberships are probabilities), "
            f"got {name}[{i}, {j}] = {q[i, j]:.6g}"
        )
    q[q < 0] = 0.0
    err = np.abs(q.sum(axis=1) - 1.0)
    worst = int(np.argmax(err))
    if err[worst] > ROW_SUM_ATOL:
        raise ValueError(
            f"rows of {name} must sum to 1 (memberships on the simplex), "
            f"but row {worst} sums to {q[worst].sum():.6g}"
        )
    return q


def pair_overlaps(q: Any) -> np.ndarray:
    """Korman's strengths of intersection of every pair of charts.

    Parameters
    ----------
    q : array_like or Tensor, shape (N, k)
        Chart memberships, validated by :func:`check_memberships`.

    Returns
    -------
    ndarray of float64, shape (k, k)
        Symmetric matrix with entries
        ``u[a, b] = ½ (S_ab / Q_a + S_ab / Q_b)`` in ``[0, 1]``, where
        ``S_ab = Σ_x q_a(x) q_b(x)`` and ``Q_j = Σ_x q_j(x)``. A term with
        ``Q_j = 0`` counts as 0, so a chart that holds no mass overlaps no other
        chart. The diagonal is set to 1 by convention (every chart is present
        from the start of the filtration); it is not the estimate's
        ``Σ q_j² / Q_j``.
    """
    q = check_memberships(q)
    mass = q.sum(axis=0)
    inv = np.divide(1.0, mass, out=np.zeros_like(mass), where=mass > 0)
    s = q.T @ q
    u = 0.5 * s * (inv[:, None] + inv[None, :])
    np.fill_diagonal(u, 1.0)
    return u


def _check_field(field: int) -> int:
    field = check_int("field", field, 2)
    if any(field % p == 0 for p in range(2, math.isqrt(field) + 1)):
        raise ValueError(
            f"field must be a prime (homology over Z/field, as gudhi requires), got {field}"
        )
    return field


def _subset_count(size: int, max_dim: int) -> int:
    """Number of subsets of 2..max_dim+1 elements of a set of ``size`` elements."""
    return sum(math.comb(size, j) for j in range(2, min(max_dim + 1, size) + 1))


def _chart_families(q: np.ndarray, max_dim: int, max_simplices: int) -> list[tuple[int, ...]]:
    """Chart sets whose subsets are all the simplices the nerve can hold, counted up front.

    A simplex with ``u_σ > 0`` lies in the support ``{j : q_j(x) > 0}`` of some sample
    ``x`` (under both rules), so the candidates are the subsets of the distinct supports,
    or of all the charts when those are fewer. Their number, plus the ``k`` vertices,
    bounds the size of the complex before anything is built.

    Raises
    ------
    ValueError
        If that bound exceeds ``max_simplices``.
    """
    k = q.shape[1]
    supports = np.unique(q > 0, axis=0)
    sizes = np.bincount(supports.sum(axis=1), minlength=k + 1)
    per_support = sum(int(m) * _subset_count(s, max_dim) for s, m in enumerate(sizes) if m)
    everything = _subset_count(k, max_dim)
    total = k + min(per_support, everything)
    if total > max_simplices:
        raise ValueError(
            f"the nerve of {k} charts up to dimension max_dim={max_dim} can have {total:,} "
            f"simplices, more than max_simplices={max_simplices:,}; lower max_dim or raise "
            "max_simplices"
        )
    if everything <= per_support:
        return [tuple(range(k))]
    return [tuple(np.flatnonzero(support).tolist()) for support in supports]


def _simplex_strengths(
    q: np.ndarray, max_dim: int, rule: str, max_simplices: int
) -> dict[tuple[int, ...], float]:
    """:func:`simplex_strengths` of validated arguments."""
    families = _chart_families(q, max_dim, max_simplices)
    mass = q.sum(axis=0)
    inv = np.divide(1.0, mass, out=np.zeros_like(mass), where=mass > 0)
    strengths: dict[tuple[int, ...], float] = {}
    for dim in range(1, max_dim + 1):
        candidates = {s for f in families for s in itertools.combinations(f, dim + 1)}
        for simplex in sorted(candidates):
            cols = q[:, simplex]
            if rule == "product":
                u = float(cols.prod(axis=1).sum() * inv[list(simplex)].mean())
            else:
                u = float(cols.min(axis=1).max())
            if u > 0:
                strengths[simplex] = u
    return strengths


def simplex_strengths(
    q: Any, max_dim: int = 2, rule: str = "product", *, max_simplices: int = MAX_SIMPLICES
) -> dict[tuple[int, ...], float]:
    """Strengths ``u_σ`` of every simplex of dimension 1..max_dim of the fuzzy nerve.

    Parameters
    ----------
    q : array_like or Tensor, shape (N, k)
        Chart memberships, validated by :func:`check_memberships`.
    max_dim : int
        Largest simplex dimension (1 = edges, 2 = triangles, ...), ``>= 1``.
    rule : {"product", "min"}
        ``"product"``: ``u_σ`` is the mean over ``j ∈ σ`` of
        ``Σ_x Π_{i∈σ} q_i(x) / Σ_x q_j(x)`` (a term with ``Σ_x q_j(x) = 0`` counts
        as 0); for pairs this is :func:`pair_overlaps`. ``"min"``:
        ``u_σ = max_x min_{j∈σ} q_j(x)``, the largest ``ε`` at which some sample
        lies in every chart of ``σ`` (for pairs this differs from
        :func:`pair_overlaps`).
    max_simplices : int
        Cap on the size of the nerve, vertices included (default
        :data:`MAX_SIMPLICES`). Before any simplex is valued, the number of candidate
        simplices (the subsets of 2..max_dim+1 charts of the distinct sets of charts
        a sample lies in, or of all the charts if those are fewer) is counted.

    Returns
    -------
    dict of tuple of int to float
        ``u_σ`` in ``(0, 1]`` for each simplex ``σ`` (sorted vertex tuple) of
        dimension ``1..max_dim`` with ``u_σ > 0``; simplices with ``u_σ = 0`` are
        left out. Under both rules a simplex with ``u_σ > 0`` has all its faces
        with ``u > 0``, as some sample has positive membership in all its charts.

    Raises
    ------
    ValueError
        If the nerve could have more than ``max_simplices`` simplices (lower
        ``max_dim`` or raise ``max_simplices``), or an argument is out of range.
    TypeError
        If an argument has the wrong type.
    """
    q = check_memberships(q)
    max_dim = check_int("max_dim", max_dim, 1)
    rule = check_choice("rule", rule, RULES)
    max_simplices = check_int("max_simplices", max_simplices, 1)
    return _simplex_strengths(q, max_dim, rule, max_simplices)


def _nerve_simplex_tree(
    q: np.ndarray, max_dim: int, rule: str, scale: str, max_simplices: int = MAX_SIMPLICES
) -> Any:
    """The filtered fuzzy nerve of validated memberships as a ``gudhi.SimplexTree``.

    ``scale="linear"``: vertices at 0 and a simplex at ``1 − u_σ``; ``"log"``: a simplex
    at ``−log10 u_σ`` and a vertex at its strongest edge (0 if it has none). A simplex
    that would enter before one of its faces is then raised to that face's value.
    """
    import gudhi

    strengths = _simplex_strengths(q, max_dim, rule, max_simplices)
    if scale == "linear":
        values = {simplex: 1.0 - u for simplex, u in strengths.items()}
        vertex = dict.fromkeys(range(q.shape[1]), 0.0)
    else:
        values = {simplex: -float(np.log10(u)) for simplex, u in strengths.items()}
        vertex = dict.fromkeys(range(q.shape[1]), np.inf)
        for simplex, value in values.items():
            if len(simplex) == 2:
                for j in simplex:
                    vertex[j] = min(vertex[j], value)
        vertex = {j: 0.0 if np.isinf(v) else v for j, v in vertex.items()}
    tree = gudhi.SimplexTree()
    for j, value in vertex.items():
        tree.insert([j], value)
    # ``insert`` lowers the filtration of faces that are already present, so the
    # simplices are inserted first and their own values assigned afterwards.
    for simplex, value in values.items():
        tree.insert(list(simplex), value)
    for simplex, value in values.items():
        tree.assign_filtration(list(simplex), value)
    for j, value in vertex.items():
        tree.assign_filtration([j], value)
    tree.make_filtration_non_decreasing()
    return tree


def nerve_persistence(
    q: Any,
    max_dim: int = 2,
    field: int = 2,
    rule: str = "product",
    scale: str = "linear",
    *,
    max_simplices: int = MAX_SIMPLICES,
) -> dict[int, np.ndarray]:
    """Persistence barcodes of the fuzzy Čech nerve of chart memberships.

    Builds a ``gudhi.SimplexTree`` with every chart as a vertex at filtration 0
    and every simplex ``σ`` of :func:`simplex_strengths` at ``1 − u_σ``, so that
    ``σ`` belongs to the complex thresholded at ``ε`` exactly when
    ``t = 1 − ε ≥ 1 − u_σ``. Under ``rule="min"`` faces are never weaker than
    their cofaces, but under ``rule="product"`` a simplex can be stronger than
    one of its faces (a chart with little total mass raises the mean), so the
    filtration is made valid with ``make_filtration_non_decreasing()``: a
    simplex enters when the last of its faces does.

    Parameters
    ----------
    q : array_like or Tensor, shape (N, k)
        Chart memberships, validated by :func:`check_memberships`.
    max_dim : int
        Largest simplex dimension inserted, ``>= 1``. Homology of dimension
        ``max_dim`` is not returned: ``(max_dim + 1)``-simplices are missing, so its
        cycles are never killed. For example ``max_dim=3`` gives H0, H1 and H2.
    field : int
        Prime ``p``; homology is computed with coefficients in ``Z/p``.
    rule : {"product", "min"}
        How simplex strengths are computed; see :func:`simplex_strengths`.
    scale : {"linear", "log"}
        Filtration units: ``t = 1 − ε`` or ``t = −log10 ε`` (see the module notes).
    max_simplices : int
        Cap on the size of the nerve, counted before it is built; see
        :func:`simplex_strengths`.

    Returns
    -------
    dict of int to ndarray
        For each dimension ``d`` in ``0..max_dim-1``, an array of shape
        ``(m_d, 2)`` of ``(birth, death)`` in filtration units ``t``,
        sorted by birth then death; essential classes have death ``+inf``.
        Bars of zero length are left out. A chart with no mass is an isolated
        vertex and gives an essential H0 bar.

    Raises
    ------
    ValueError
        If the nerve could have more than ``max_simplices`` simplices (lower
        ``max_dim`` or raise ``max_simplices``), or an argument is out of range.
    TypeError
        If an argument has the wrong type.
    """
    field = _check_field(field)
    return nerve_barcodes(q, max_dim, (field,), rule, scale, max_simplices=max_simplices)[field]


def nerve_barcodes(
    q: Any,
    max_dim: int = 2,
    fields: tuple[int, ...] = (2, 3),
    rule: str = "product",
    scale: str = "linear",
    *,
    max_simplices: int = MAX_SIMPLICES,
) -> dict[int, dict[int, np.ndarray]]:
    """:func:`nerve_persistence` over several coefficient fields, the nerve built once.

    Parameters
    ----------
    q, max_dim, rule, scale, max_simplices
        As for :func:`nerve_persistence`.
    fields : tuple of int
        Non-empty; every entry a prime ``p`` (homology with coefficients in ``Z/p``).

    Returns
    -------
    dict of int to dict of int to ndarray
        ``{field: barcodes}``, each barcodes dict as :func:`nerve_persistence` returns it.

    Raises
    ------
    ValueError, TypeError
        As :func:`nerve_persistence`; also if ``fields`` is empty or not a tuple.
    """
    q = check_memberships(q)
    max_dim = check_int("max_dim", max_dim, 1)
    if not isinstance(fields, tuple):
        raise TypeError(f"fields must be a tuple of primes, got {type(fields).__name__}")
    if not fields:
        raise ValueError("fields must hold at least one prime")
    fields = tuple(_check_field(field) for field in fields)
    rule = check_choice("rule", rule, RULES)
    scale = check_choice("scale", scale, SCALES)
    max_simplices = check_int("max_simplices", max_simplices, 1)
    tree = _nerve_simplex_tree(q, max_dim, rule, scale, max_simplices)
    out = {}
    for field in fields:
        # persistence_dim_max: compute homology in the complex's top dimension too
        # (e.g. H2 of a 2-dimensional nerve when max_dim=3).
        tree.compute_persistence(homology_coeff_field=field, persistence_dim_max=True)
        barcodes = {}
        for dim in range(max_dim):
            bars = np.asarray(tree.persistence_intervals_in_dimension(dim), dtype=np.float64)
            bars = bars.reshape(-1, 2)
            barcodes[dim] = bars[np.lexsort((bars[:, 1], bars[:, 0]))]
        out[field] = barcodes
    return out


def clip_barcodes(barcodes: dict[int, np.ndarray], end: float) -> dict[int, np.ndarray]:
    """The barcodes seen through the window ``[0, end]`` of the filtration.

    Bars born at or after ``end`` are dropped and deaths after it are set to ``end``, so
    that a class still alive at the window's end (an essential one too) has the length it
    has inside the window. In the log scale, ``end = 3`` keeps the complexes of
    ``ε ≥ 10⁻³``: a chart contains a sample only if its membership is at least 0.1 %.

    Parameters
    ----------
    barcodes : dict of int to ndarray of shape (m_d, 2)
        As returned by :func:`nerve_persistence`.
    end : float
        Finite and ``> 0``.

    Returns
    -------
    dict of int to ndarray of shape (m'_d, 2)
        Sorted by birth then death, as the input.

    Raises
    ------
    TypeError, ValueError
        If ``barcodes`` is not a valid barcode dict or ``end`` not a finite number > 0.
    """
    barcodes = _check_barcodes(barcodes)
    end = check_float("end", end, 0.0, low_open=True)
    out = {}
    for dim, bars in barcodes.items():
        kept = bars[bars[:, 0] < end].copy()
        kept[:, 1] = np.minimum(kept[:, 1], end)
        out[dim] = kept[np.lexsort((kept[:, 1], kept[:, 0]))]
    return out


def _check_barcodes(barcodes: Any) -> dict[int, np.ndarray]:
    """Validate barcodes as :func:`nerve_persistence` returns them; sorted by dimension.

    Raises
    ------
    TypeError
        If ``barcodes`` is not a mapping, a dimension not an int, or bars not real numbers.
    ValueError
        If it is empty, a dimension is negative, or some bars are not an array of shape
        (m, 2) of finite births and deaths ``>=`` their births (``+inf`` for essential
        classes).
    """
    if not isinstance(barcodes, Mapping):
        raise TypeError(f"barcodes must be a dict of int to bars, got {type(barcodes).__name__}")
    if not barcodes:
        raise ValueError("barcodes is empty: it must hold the bars of at least one dimension")
    checked = {}
    for dim, bars in barcodes.items():
        dim = check_int("barcodes' dimension", dim, 0)
        bars = np.asarray(bars)
        if bars.dtype.kind not in "iuf":
            raise TypeError(f"barcodes[{dim}] must hold real numbers, got dtype {bars.dtype}")
        bars = bars.astype(np.float64)
        if bars.ndim != 2 or bars.shape[1] != 2:
            raise ValueError(f"barcodes[{dim}] must have shape (m, 2), got {bars.shape}")
        births, deaths = bars[:, 0], bars[:, 1]
        if not (np.isfinite(births).all() and (deaths >= births).all()):
            raise ValueError(
                f"barcodes[{dim}] must hold finite births and deaths >= their births "
                "(inf for essential classes)"
            )
        checked[dim] = bars
    return dict(sorted(checked.items()))


def betti_numbers(barcodes: dict[int, np.ndarray], t: float) -> tuple[int, ...]:
    """Betti numbers of the nerve at filtration value ``t``.

    Parameters
    ----------
    barcodes : dict of int to ndarray of shape (m_d, 2)
        As returned by :func:`nerve_persistence`.
    t : float
        Filtration value ``1 − ε``.

    Returns
    -------
    tuple of int
        Per dimension, in increasing order, the number of bars with
        ``birth ≤ t < death``.

    Raises
    ------
    TypeError, ValueError
        If ``barcodes`` is not a valid barcode dict (see :func:`nerve_persistence`) or
        ``t`` is not a finite number.
    """
    barcodes = _check_barcodes(barcodes)
    t = check_float("t", t)
    return tuple(
        int(np.count_nonzero((bars[:, 0] <= t) & (t < bars[:, 1]))) for bars in barcodes.values()
    )


def persistent_betti(barcodes: dict[int, np.ndarray], min_length: float) -> tuple[int, ...]:
    """Number of bars at least ``min_length`` long, per dimension.

    Parameters
    ----------
    barcodes : dict of int to ndarray of shape (m_d, 2)
        As returned by :func:`nerve_persistence`.
    min_length : float
        Non-negative threshold on ``death − birth``; essential bars (death
        ``inf``) always count. Finite bars of a nerve are shorter than 1 in the
        linear scale, so there ``min_length=1`` counts exactly the essential classes,
        as ``min_length=inf`` does in both scales.

    Returns
    -------
    tuple of int
        Per dimension, in increasing order, the number of bars with
        ``death − birth ≥ min_length``.

    Raises
    ------
    TypeError, ValueError
        If ``barcodes`` is not a valid barcode dict (see :func:`nerve_persistence`) or
        ``min_length`` is not a number ``>= 0`` (NaN refused).
    """
    barcodes = _check_barcodes(barcodes)
    min_length = check_float("min_length", min_length, 0.0, allow_inf=True)
    return tuple(
        int(np.count_nonzero(bars[:, 1] - bars[:, 0] >= min_length)) for bars in barcodes.values()
    )


def plot_barcodes(
    barcodes: dict[int, np.ndarray],
    ax: Any = None,
    title: str | None = None,
    scale: str = "linear",
) -> Any:
    """Draw barcodes as horizontal bars, grouped and coloured by dimension.

    Parameters
    ----------
    barcodes : dict of int to ndarray of shape (m_d, 2)
        As returned by :func:`nerve_persistence`.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is made if omitted.
    title : str, optional
        Title of the axes.
    scale : {"linear", "log"}
        The scale the barcodes were computed in (sets the axis range and label).

    Returns
    -------
    matplotlib Axes
        With one line per bar, H0 at the top; essential bars run to the right
        edge (``t = 1`` in the linear scale, past the last finite value in the log
        scale) and end in an arrowhead.

    Raises
    ------
    TypeError, ValueError
        If ``barcodes`` is not a valid barcode dict (see :func:`nerve_persistence`),
        ``ax`` not a matplotlib Axes, ``title`` not a string or ``scale`` unknown.
    """
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    barcodes = _check_barcodes(barcodes)
    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {type(title).__name__}")
    scale = check_choice("scale", scale, SCALES)
    finite = [v for bars in barcodes.values() for v in bars.ravel() if np.isfinite(v)]
    right = 1.0 if scale == "linear" else 1.1 * max(finite, default=1.0) + 0.1
    if ax is None:
        ax = Figure(figsize=(5, 3)).subplots()
    y = 0
    for dim, bars in barcodes.items():
        if len(bars) == 0:
            continue
        color = f"C{dim}"
        for i, (birth, death) in enumerate(bars):
            essential = np.isinf(death)
            ax.plot(
                [birth, right if essential else death],
                [y, y],
                color=color,
                lw=2,
                marker=">" if essential else None,
                markevery=[1],
                label=f"H{dim}" if i == 0 else None,
            )
            y -= 1
        y -= 1  # a gap between dimensions
    ax.set_xlim(0.0, right)
    ax.set_xlabel("1 − ε (filtration)" if scale == "linear" else "−log10 ε (filtration, decades)")
    ax.set_yticks([])
    if y < 0:
        ax.set_ylim(y, 1)
        ax.legend(loc="lower right")
    if title is not None:
        ax.set_title(title)
    return ax
