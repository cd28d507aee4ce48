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
from typing import Any

import numpy as np

RULES = ("product", "min")
SCALES = ("linear", "log")

# Tolerances of check_memberships.
NEGATIVE_TOL = 1e-6
ROW_SUM_ATOL = 1e-4


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
    ValueError
        If ``q`` is not 2-D, has no samples or no charts, has non-finite or
        negative (below ``-1e-6``) entries, or a row whose sum differs from 1 by
        more than ``1e-4``.
    """
    if hasattr(q, "detach"):  # a torch tensor, of any dtype or device
        q = q.detach().cpu().double().numpy()
    q = np.array(q, dtype=np.float64)  # a copy: tiny negatives are zeroed below
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


def _check_max_dim(max_dim: int) -> int:
    if isinstance(max_dim, bool) or not isinstance(max_dim, (int, np.integer)) or max_dim < 1:
        raise ValueError(f"max_dim must be an integer >= 1 (1 = edges), got {max_dim!r}")
    return int(max_dim)


def _check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ValueError(f"rule must be one of {list(RULES)}, got {rule!r}")
    return rule


def simplex_strengths(
    q: Any, max_dim: int = 2, rule: str = "product"
) -> dict[tuple[int, ...], float]:
    """Strengths ``u_σ`` of every simplex of dimension 1..max_dim of the fuzzy nerve.

    Parameters
    ----------
    q : array_like or Tensor, shape (N, k)
        Chart memberships, validated by :func:`check_memberships`.
    max_dim : int
        Largest simplex dimension (1 = edges, 2 = triangles, ...).
    rule : {"product", "min"}
        ``"product"``: ``u_σ`` is the mean over ``j ∈ σ`` of
        ``Σ_x Π_{i∈σ} q_i(x) / Σ_x q_j(x)`` (a term with ``Σ_x q_j(x) = 0`` counts
        as 0); for pairs this is :func:`pair_overlaps`. ``"min"``:
        ``u_σ = max_x min_{j∈σ} q_j(x)``, the largest ``ε`` at which some sample
        lies in every chart of ``σ`` (for pairs this differs from
        :func:`pair_overlaps`).

    Returns
    -------
    dict of tuple of int to float
        ``u_σ`` in ``(0, 1]`` for each simplex ``σ`` (sorted vertex tuple) of
        dimension ``1..max_dim`` with ``u_σ > 0``; simplices with ``u_σ = 0`` are
        left out. Under both rules a simplex with ``u_σ > 0`` has all its faces
        with ``u > 0``, as some sample has positive membership in all its charts.
    """
    q = check_memberships(q)
    max_dim = _check_max_dim(max_dim)
    rule = _check_rule(rule)
    k = q.shape[1]
    mass = q.sum(axis=0)
    inv = np.divide(1.0, mass, out=np.zeros_like(mass), where=mass > 0)
    strengths: dict[tuple[int, ...], float] = {}
    for dim in range(1, max_dim + 1):
        for simplex in itertools.combinations(range(k), dim + 1):
            cols = q[:, simplex]
            if rule == "product":
                u = float(cols.prod(axis=1).sum() * inv[list(simplex)].mean())
            else:
                u = float(cols.min(axis=1).max())
            if u > 0:
                strengths[simplex] = u
    return strengths


def _check_field(field: int) -> int:
    ok = isinstance(field, (int, np.integer)) and not isinstance(field, bool) and field >= 2
    if not ok or any(field % p == 0 for p in range(2, int(field**0.5) + 1)):
        raise ValueError(
            f"field must be a prime >= 2 (homology over Z/field, as gudhi requires), got {field!r}"
        )
    return int(field)


def _check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    return scale


def _nerve_simplex_tree(q: np.ndarray, max_dim: int, rule: str, scale: str) -> Any:
    """The filtered fuzzy nerve of validated memberships as a ``gudhi.SimplexTree``.

    ``scale="linear"``: vertices at 0 and a simplex at ``1 − u_σ``; ``"log"``: a simplex
    at ``−log10 u_σ`` and a vertex at its strongest edge (0 if it has none). A simplex
    that would enter before one of its faces is then raised to that face's value.
    """
    import gudhi

    strengths = simplex_strengths(q, max_dim=max_dim, rule=rule)
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
    q: Any, max_dim: int = 2, field: int = 2, rule: str = "product", scale: str = "linear"
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
        Largest simplex dimension inserted. Homology of dimension ``max_dim`` is
        not returned: ``(max_dim + 1)``-simplices are missing, so its cycles are
        never killed. For example ``max_dim=3`` gives H0, H1 and H2.
    field : int
        Prime ``p``; homology is computed with coefficients in ``Z/p``.
    rule : {"product", "min"}
        How simplex strengths are computed; see :func:`simplex_strengths`.
    scale : {"linear", "log"}
        Filtration units: ``t = 1 − ε`` or ``t = −log10 ε`` (see the module notes).

    Returns
    -------
    dict of int to ndarray
        For each dimension ``d`` in ``0..max_dim-1``, an array of shape
        ``(m_d, 2)`` of ``(birth, death)`` in filtration units ``t``,
        sorted by birth then death; essential classes have death ``+inf``.
        Bars of zero length are left out. A chart with no mass is an isolated
        vertex and gives an essential H0 bar.
    """
    q = check_memberships(q)
    max_dim = _check_max_dim(max_dim)
    rule = _check_rule(rule)
    field = _check_field(field)
    tree = _nerve_simplex_tree(q, max_dim, rule, _check_scale(scale))
    # persistence_dim_max: compute homology in the complex's top dimension too
    # (e.g. H2 of a 2-dimensional nerve when max_dim=3).
    tree.persistence(homology_coeff_field=field, persistence_dim_max=True)
    barcodes = {}
    for dim in range(max_dim):
        bars = np.asarray(tree.persistence_intervals_in_dimension(dim), dtype=np.float64)
        bars = bars.reshape(-1, 2)
        barcodes[dim] = bars[np.lexsort((bars[:, 1], bars[:, 0]))]
    return barcodes


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
    """
    return tuple(
        int(np.count_nonzero((bars[:, 0] <= t) & (t < bars[:, 1])))
        for _, bars in sorted(barcodes.items())
    )


def persistent_betti(barcodes: dict[int, np.ndarray], min_length: float) -> tuple[int, ...]:
    """Number of bars at least ``min_length`` long, per dimension.

    Parameters
    ----------
    barcodes : dict of int to ndarray of shape (m_d, 2)
        As returned by :func:`nerve_persistence`.
    min_length : float
        Non-negative threshold on ``death − birth``; essential bars (death
        ``inf``) always count. Finite bars of a nerve are shorter than 1, so
        ``min_length=1`` counts exactly the essential classes.

    Returns
    -------
    tuple of int
        Per dimension, in increasing order, the number of bars with
        ``death − birth ≥ min_length``.
    """
    if not min_length >= 0:
        raise ValueError(f"min_length must be >= 0, got {min_length!r}")
    return tuple(
        int(np.count_nonzero(bars[:, 1] - bars[:, 0] >= min_length))
        for _, bars in sorted(barcodes.items())
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
    """
    _check_scale(scale)
    finite = [v for bars in barcodes.values() for v in bars.ravel() if np.isfinite(v)]
    right = 1.0 if scale == "linear" else 1.1 * max(finite, default=1.0) + 0.1
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(5, 3)).subplots()
    y = 0
    for dim, bars in sorted(barcodes.items()):
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
