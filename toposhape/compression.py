"""Atlas codes as a compressed vector store (Korman's "potential application: vector databases").

Instead of a D-dimensional float32 vector (4·D bytes), every database vector is stored
as the id of its chart argmax_j q_j(x) and its chart coordinates φ_j(x) ∈ [0,1]^d
quantised to a few bits each. A query is compared with the vectors of its own chart
only, by the Euclidean distance between coordinates: the blog's chart distance with
hard memberships (∞ across charts).

* :func:`quantise` / :func:`dequantise`: uniform scalar quantisation of [0,1];
* :class:`AtlasStore`: the quantised codes grouped by chart, and its k-NN search;
* :func:`exact_neighbours`, :func:`faiss_baselines`: exact search on the uncompressed
  vectors, and faiss's PCA + 8-bit scalar quantiser and product quantiser at the same
  memory per vector;
* :func:`compression_table`: bytes per vector, recall@k and query time of all of them;
* :func:`fit_atlas_to_embedding`: an atlas autoencoder fitted to any embedding.

Every reported query time is single-threaded (faiss and torch are set to one thread
around the timed search and restored afterwards), so that the methods compare.
"""

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faiss
import numpy as np
import torch

from toposhape.atlas import (
    AtlasAutoencoder,
    AtlasCodes,
    AtlasConfig,
    _check_codes,
    _check_coords,
    _check_memberships,
    _check_q,
    train_atlas,
)
from toposhape.checks import (
    check_array,
    check_bool,
    check_int,
    check_optional_int,
    check_tensor,
)
from toposhape.training import seeded

__all__ = [
    "AtlasStore",
    "compression_table",
    "dequantise",
    "exact_neighbours",
    "faiss_baselines",
    "fit_atlas_to_embedding",
    "quantise",
    "recall_at_k",
]

_EXACT = "donot_use_mm_for_euclid_dist"  # cdist's fast mode is off by 1e-4 near 0
_BATCH = 100  # batch size of fit_atlas_to_embedding
_MAX_BITS = 16  # bits per quantised coordinate: uint16 codes
_FAISS_SEED_MAX = 2**31 - 1  # faiss's k-means seed is a C int


def _as_float32(name: str, x: object) -> np.ndarray:
    """Finite vectors (N, D), N, D ≥ 1, as a contiguous float32 array."""
    array = check_array(name, x, 2)
    if array.shape[1] < 1:
        raise ValueError(f"{name} must have at least 1 column, got shape {array.shape}")
    with np.errstate(over="ignore"):  # reported just below
        array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():  # finite in float64, not in float32
        raise ValueError(f"{name} overflows float32")
    return array


def _check_vectors(
    database: torch.Tensor | np.ndarray, queries: torch.Tensor | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    database, queries = _as_float32("database", database), _as_float32("queries", queries)
    if database.shape[1] != queries.shape[1]:
        raise ValueError(
            f"database (N, D) and queries (Q, D) differ in D: {database.shape}, {queries.shape}"
        )
    return database, queries


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run faiss and torch on one thread inside the block, restoring both afterwards."""
    faiss_threads, torch_threads = faiss.omp_get_max_threads(), torch.get_num_threads()
    faiss.omp_set_num_threads(1)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(faiss_threads)
        torch.set_num_threads(torch_threads)


# --------------------------------------------------------------------------- quantisation


def quantise(coords: torch.Tensor | np.ndarray, bits: int = 8) -> np.ndarray:
    """Uniform quantisation of coordinates in [0, 1] to ``bits`` bits each.

    [0, 1] is cut into 2^bits bins of equal width; a coordinate is stored as the index
    ⌊x·2^bits⌋ of its bin (1 is put in the last bin), and :func:`dequantise` returns the
    bin's centre. The round-trip error is at most 1/2^(bits+1) (< 1/(2(2^bits − 1)), the
    bound of levels placed at the endpoints), and for coordinates uniform on [0, 1], the
    law the atlas regulariser pulls them towards, these bins are the optimal quantiser.

    Parameters
    ----------
    coords : Tensor or ndarray, shape (N, d)
        Values in [0, 1], N ≥ 1.
    bits : int
        1 to 16.

    Returns
    -------
    ndarray, shape (N, d)
        uint8 for bits ≤ 8, uint16 otherwise; values in 0..2^bits − 1.
    """
    check_int("bits", bits, 1, _MAX_BITS)
    x = check_array("coords", coords, 2).astype(np.float64)
    if not ((x >= 0) & (x <= 1)).all():
        raise ValueError("coords must lie in [0, 1]")
    levels = 2**bits
    dtype = np.uint8 if bits <= 8 else np.uint16
    return np.minimum(np.floor(x * levels), levels - 1).astype(dtype)


def dequantise(codes: np.ndarray, bits: int = 8) -> np.ndarray:
    """Bin centres (c + ½)/2^bits of codes made by :func:`quantise`.

    Parameters
    ----------
    codes : ndarray, shape (N, d)
        Integers in 0..2^bits − 1, N ≥ 1.
    bits : int
        1 to 16, as given to :func:`quantise`.

    Returns
    -------
    ndarray, shape (N, d), float32
        Coordinates in (0, 1) (exact in float32).
    """
    check_int("bits", bits, 1, _MAX_BITS)
    codes = check_array("codes", codes, 2, integer=True)
    if codes.size and (codes.min() < 0 or codes.max() >= 2**bits):
        raise ValueError(f"codes must lie in 0..{2**bits - 1} for bits={bits}")
    return ((codes.astype(np.float32) + 0.5) / 2**bits).astype(np.float32)


# --------------------------------------------------------------------------- atlas store


class AtlasStore:
    """Quantised chart coordinates grouped by chart, searched within the query's chart.

    The codes are sorted by chart (stably, so by database index within a chart), with
    offsets such that chart j holds rows ``offsets[j]:offsets[j + 1]``; a query is
    compared with the vectors of its own chart only.

    Parameters
    ----------
    charts : ndarray or Tensor of int, shape (N,)
        Chart id of every database vector, in 0..n_charts − 1; N ≥ 1.
    coords : Tensor or ndarray, shape (N, d)
        Its coordinates in that chart, in [0, 1].
    bits : int
        Bits per coordinate, 1 to 16 (see :func:`quantise`).
    n_charts : int, optional
        k ≥ 1, the number of charts of the atlas; max(charts) + 1 by default.

    Attributes
    ----------
    codes : ndarray, shape (N, d)
        Quantised coordinates, sorted by chart.
    ids : ndarray, shape (N,), int64
        Database index of every row of ``codes``.
    offsets : ndarray, shape (k + 1,), int64
    """

    def __init__(
        self,
        charts: np.ndarray,
        coords: torch.Tensor | np.ndarray,
        bits: int = 8,
        n_charts: int | None = None,
    ) -> None:
        charts = check_array("charts", charts, 1, integer=True)
        check_optional_int("n_charts", n_charts, 1)
        codes = quantise(coords, bits)
        if len(codes) != len(charts):
            raise ValueError(
                f"charts (N,) and coords (N, d) differ in N: {charts.shape}, {codes.shape}"
            )
        if charts.min() < 0:
            raise ValueError("charts must be >= 0")
        if n_charts is None:
            n_charts = int(charts.max()) + 1
        if charts.max() >= n_charts:
            raise ValueError(f"charts must be < n_charts={n_charts}, got {charts.max()}")
        self.bits, self.n_charts, self.dim = bits, int(n_charts), codes.shape[1]
        self.ids = np.argsort(charts, kind="stable").astype(np.int64)
        self.codes = codes[self.ids]
        counts = np.bincount(charts, minlength=self.n_charts)
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def bytes_per_vector(self) -> int:
        """Size of one bit-packed code: the chart id plus ⌈d·bits/8⌉ bytes of coordinates.

        The chart id takes 1 byte for k ≤ 256, 2 for k ≤ 65536, and so on. As faiss's
        ``sa_code_size``, this counts the code only, not the map from storage order to
        database index (``ids``), nor the k + 1 offsets. The arrays in memory hold one
        uint8 (bits ≤ 8) or uint16 per coordinate, for speed.
        """
        chart_bytes = max(1, math.ceil(math.log2(self.n_charts) / 8))
        return chart_bytes + math.ceil(self.dim * self.bits / 8)

    def search(
        self, query_charts: np.ndarray, query_coords: torch.Tensor | np.ndarray, k: int
    ) -> np.ndarray:
        """The k nearest database vectors of every query, within the query's chart.

        The distance is Euclidean between the query's (unquantised) coordinates and the
        dequantised coordinates of the database vectors of the same chart; vectors of
        other charts are at distance ∞ and never returned. Ties are broken by the smaller
        database index. Where the chart holds fewer than k vectors, the row is filled
        with −1. Queries are grouped by chart: one ``torch.cdist`` per chart.

        Parameters
        ----------
        query_charts : ndarray or Tensor of int, shape (Q,)
            Chart id of every query, in 0..n_charts − 1; Q ≥ 1.
        query_coords : Tensor or ndarray, shape (Q, d)
            Finite coordinates of every query in its chart.
        k : int
            Number of neighbours, ≥ 1.

        Returns
        -------
        ndarray, shape (Q, k), int64
            Database indices, nearest first; −1 past the end of a small chart.
        """
        check_int("k", k, 1)
        query_charts = check_array("query_charts", query_charts, 1, integer=True)
        query_coords = _as_float32("query_coords", query_coords)
        if query_coords.shape != (len(query_charts), self.dim):
            raise ValueError(
                f"query_coords must have shape (Q, {self.dim}) with Q = len(query_charts) = "
                f"{len(query_charts)}, got {query_coords.shape}"
            )
        if query_charts.min() < 0 or query_charts.max() >= self.n_charts:
            raise ValueError(f"query_charts must lie in 0..{self.n_charts - 1}")
        found = np.full((len(query_charts), k), -1, dtype=np.int64)
        order = np.argsort(query_charts, kind="stable")
        groups = np.split(order, np.cumsum(np.bincount(query_charts, minlength=self.n_charts)))
        for chart, rows in enumerate(groups[:-1]):
            start, stop = self.offsets[chart], self.offsets[chart + 1]
            if len(rows) == 0 or stop == start:
                continue
            database = torch.from_numpy(dequantise(self.codes[start:stop], self.bits))
            dist = torch.cdist(torch.from_numpy(query_coords[rows]), database, compute_mode=_EXACT)
            nearest = _smallest(dist, min(k, stop - start))
            found[rows, : nearest.shape[1]] = self.ids[start + nearest]
        return found


def _smallest(dist: torch.Tensor, k: int) -> np.ndarray:
    """Columns of the k smallest entries of every row of dist (Q, n), ordered by (value, column).

    ``torch.topk`` gives the set, which is the right one unless entries equal to its
    largest value were left out; those rows are sorted in full, stably.
    """
    values, columns = torch.topk(dist, k, dim=1, largest=False)
    columns = columns.sort(dim=1).values  # by column, then stably by value
    columns = columns.gather(1, dist.gather(1, columns).sort(dim=1, stable=True).indices)
    ambiguous = (dist <= values[:, -1:]).sum(dim=1) > k
    if ambiguous.any():
        columns[ambiguous] = dist[ambiguous].sort(dim=1, stable=True).indices[:, :k]
    return columns.numpy()


# --------------------------------------------------------------------------- search baselines


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean over queries of |found ∩ truth| / k, entries −1 being ignored.

    Parameters
    ----------
    found : ndarray, shape (Q, k), int
        Neighbours returned by a search (distinct per row, −1 for none); Q, k ≥ 1.
    truth : ndarray, shape (Q, k), int
        The true k nearest neighbours (distinct per row, −1 for none).

    Returns
    -------
    float
        In [0, 1].
    """
    found = check_array("found", found, 2, integer=True)
    truth = check_array("truth", truth, 2, integer=True)
    if found.shape != truth.shape:
        raise ValueError(
            f"found and truth must have the same shape, got {found.shape}, {truth.shape}"
        )
    if found.shape[1] == 0:
        raise ValueError(f"found and truth need k >= 1 columns, got shape {found.shape}")
    for name, array in (("found", found), ("truth", truth)):
        if array.min() < -1:
            raise ValueError(f"{name} must hold indices >= 0, or -1 for none")
    hit = (truth[:, :, None] == found[:, None, :]).any(axis=2) & (truth >= 0)
    return float(hit.sum(axis=1).mean() / found.shape[1])


def _timed_search(index: faiss.Index, queries: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    """Neighbours (Q, k) int64 and single-threaded seconds per query of ``index.search``."""
    with _single_thread():
        start = time.perf_counter()
        _, neighbours = index.search(queries, k)
        seconds = time.perf_counter() - start
    return neighbours.astype(np.int64), seconds / max(len(queries), 1)


def _flat_index(database: np.ndarray) -> faiss.IndexFlatL2:
    index = faiss.IndexFlatL2(database.shape[1])
    index.add(database)
    return index


def exact_neighbours(
    database: torch.Tensor | np.ndarray, queries: torch.Tensor | np.ndarray, k: int
) -> np.ndarray:
    """Exact k nearest neighbours by L2 distance (``faiss.IndexFlatL2``).

    Parameters
    ----------
    database : Tensor or ndarray, shape (N, D)
        Finite, N ≥ 1.
    queries : Tensor or ndarray, shape (Q, D)
        Finite, Q ≥ 1.
    k : int
        ≥ 1; rows are filled with −1 past N.

    Returns
    -------
    ndarray, shape (Q, k), int64
        Database indices, nearest first.
    """
    check_int("k", k, 1)
    database, queries = _check_vectors(database, queries)
    return _timed_search(_flat_index(database), queries, k)[0]


def _largest_divisor(n: int, at_most: int) -> int:
    return max(m for m in range(1, min(n, at_most) + 1) if n % m == 0)


def faiss_baselines(
    database: torch.Tensor | np.ndarray,
    queries: torch.Tensor | np.ndarray,
    bytes_per_vector: int,
    k: int,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """faiss's compressed indices at a given memory per vector, trained on the database.

    * ``"PCA + 8-bit"``: ``faiss.PCAMatrix(D, m)`` keeping m = bytes_per_vector
      components, then ``faiss.IndexScalarQuantizer(m, QT_8bit)`` (one byte each);
    * ``"PQ"``: ``faiss.IndexPQ(D, M, nbits)`` with M the largest divisor of D that is
      ≤ bytes_per_vector, and nbits = min(8, ⌊log2 N⌋) (k-means needs as many training
      points as the 2^nbits centroids of every sub-quantiser); its code takes
      ⌈M·nbits/8⌉ ≤ bytes_per_vector bytes. Its k-means is seeded with ``seed``.

    Query times are single-threaded (``faiss.omp_set_num_threads(1)`` around the search).

    Parameters
    ----------
    database : Tensor or ndarray, shape (N, D)
        Finite, N ≥ 2.
    queries : Tensor or ndarray, shape (Q, D)
        Finite, Q ≥ 1.
    bytes_per_vector : int
        1 to D.
    k : int
        Number of neighbours, ≥ 1.
    seed : int
        In [0, 2^31 − 1].

    Returns
    -------
    list of dict
        One row per method: ``method``, ``settings`` (str), ``bytes_per_vector`` (the
        actual code size, ``index.sa_code_size()``), ``neighbours`` (ndarray (Q, k),
        int64) and ``seconds_per_query``.
    """
    check_int("k", k, 1)
    check_int("seed", seed, 0, _FAISS_SEED_MAX)
    database, queries = _check_vectors(database, queries)
    n, dim = database.shape
    check_int("bytes_per_vector", bytes_per_vector, 1, dim)
    if n < 2:
        raise ValueError(f"database must hold at least 2 vectors to train on, got {n}")
    m = int(bytes_per_vector)
    pca_sq = faiss.IndexPreTransform(
        faiss.PCAMatrix(dim, m), faiss.IndexScalarQuantizer(m, faiss.ScalarQuantizer.QT_8bit)
    )
    subquantisers, nbits = _largest_divisor(dim, m), min(8, int(math.log2(n)))
    pq = faiss.IndexPQ(dim, subquantisers, nbits)
    pq.pq.cp.seed = seed
    rows = []
    for method, settings, index in [
        ("PCA + 8-bit", f"m={m} components", pca_sq),
        ("PQ", f"M={subquantisers}, nbits={nbits}", pq),
    ]:
        index.train(database)
        index.add(database)
        neighbours, seconds = _timed_search(index, queries, k)
        rows.append(
            {
                "method": method,
                "settings": settings,
                "bytes_per_vector": int(index.sa_code_size()),
                "neighbours": neighbours,
                "seconds_per_query": seconds,
            }
        )
    return rows


# --------------------------------------------------------------------------- the table


def _hard_codes(
    codes: AtlasCodes | tuple[torch.Tensor, torch.Tensor], name: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Charts argmax q (N,), their coordinates (N, d) and k from AtlasCodes or (q, coords)."""
    if isinstance(codes, AtlasCodes):
        codes = _check_codes(name, codes)
        q, coords = codes.q, codes.coords
    elif isinstance(codes, tuple) and len(codes) == 2:
        q = _check_q(f"{name}[0]", codes[0])
        coords = _check_coords(f"{name}[1]", codes[1], q, f"{name}[0]")
        _check_memberships(f"{name}[0]", q)
        check_tensor(f"{name}[1]", coords, finite=True)
    else:
        raise TypeError(
            f"{name} must be AtlasCodes or a tuple (q, coords), got {type(codes).__name__}"
        )
    q, coords = q.detach().cpu(), coords.detach().cpu()
    chart = q.argmax(dim=1)
    return chart.numpy(), coords[torch.arange(len(chart)), chart].numpy(), q.shape[1]


def compression_table(
    database_emb: torch.Tensor | np.ndarray,
    query_emb: torch.Tensor | np.ndarray,
    database_codes: AtlasCodes | tuple[torch.Tensor, torch.Tensor],
    query_codes: AtlasCodes | tuple[torch.Tensor, torch.Tensor],
    k: int = 10,
    bits: int = 8,
) -> list[dict[str, Any]]:
    """Bytes per vector, recall@k and query time: float32, atlas store, faiss baselines.

    The truth is the exact L2 k-NN of the queries in the uncompressed embedding. The atlas
    store keeps, for every database vector, its chart argmax_j q_j and the coordinates of
    that chart quantised to ``bits`` bits; the faiss baselines (:func:`faiss_baselines`)
    get the atlas's bytes per vector. Every time is single-threaded.

    Parameters
    ----------
    database_emb : Tensor or ndarray, shape (N, D)
    query_emb : Tensor or ndarray, shape (Q, D)
    database_codes, query_codes : AtlasCodes or tuple (q, coords)
        The atlas's codes of the database and of the queries: memberships q (N, k) and
        coordinates in [0, 1] (N, k, d) (an :class:`~toposhape.atlas.AtlasCodes` gives
        ``.q`` and ``.coords``).
    k : int
        Number of neighbours, ≥ 1.
    bits : int
        Bits per atlas coordinate, 1 to 16.

    Returns
    -------
    list of dict
        Rows ``"float32 (exact)"``, ``"atlas (chart + 8-bit coords)"`` (with the actual
        bits), ``"PCA + 8-bit"``, ``"PQ"``, each with ``method``, ``settings``,
        ``bytes_per_vector``, ``recall_at_{k}`` and ``seconds_per_query``.
    """
    check_int("k", k, 1)
    check_int("bits", bits, 1, _MAX_BITS)
    database, queries = _check_vectors(database_emb, query_emb)
    db_chart, db_coords, charts = _hard_codes(database_codes, "database_codes")
    query_chart, query_coords, query_charts = _hard_codes(query_codes, "query_codes")
    if len(db_chart) != len(database) or len(query_chart) != len(queries):
        raise ValueError(
            f"codes must have one row per vector: {len(db_chart)} database codes for "
            f"{len(database)} vectors, {len(query_chart)} query codes for {len(queries)}"
        )
    if query_charts != charts or query_coords.shape[1] != db_coords.shape[1]:
        raise ValueError("database_codes and query_codes have different charts or dims")
    truth, exact_seconds = _timed_search(_flat_index(database), queries, k)
    store = AtlasStore(db_chart, db_coords, bits=bits, n_charts=charts)
    with _single_thread():
        start = time.perf_counter()
        found = store.search(query_chart, query_coords, k)
        atlas_seconds = (time.perf_counter() - start) / max(len(queries), 1)
    recall = f"recall_at_{k}"
    rows = [
        {
            "method": "float32 (exact)",
            "settings": f"D={database.shape[1]}",
            "bytes_per_vector": 4 * database.shape[1],
            recall: 1.0,
            "seconds_per_query": exact_seconds,
        },
        {
            "method": f"atlas (chart + {bits}-bit coords)",
            "settings": f"k={charts} charts, d={store.dim}",
            "bytes_per_vector": store.bytes_per_vector,
            recall: recall_at_k(found, truth),
            "seconds_per_query": atlas_seconds,
        },
    ]
    for row in faiss_baselines(database, queries, store.bytes_per_vector, k):
        rows.append(
            {
                "method": row["method"],
                "settings": row["settings"],
                "bytes_per_vector": row["bytes_per_vector"],
                recall: recall_at_k(row["neighbours"], truth),
                "seconds_per_query": row["seconds_per_query"],
            }
        )
    return rows


def fit_atlas_to_embedding(
    embedding: torch.Tensor | np.ndarray,
    charts: int,
    dim: int,
    epochs: int,
    seed: int,
    progress: bool = False,
) -> AtlasAutoencoder:
    """Fit an atlas autoencoder (MMD regulariser, λ = 10) to the vectors of an embedding.

    ``AtlasAutoencoder((D,), charts, dim, hidden=128)``, initialised with
    ``torch.manual_seed(seed)`` (the global generator is left as it was) and trained by
    :func:`toposhape.atlas.train_atlas` with ``AtlasConfig(regulariser="mmd", lam=10.0,
    epochs=epochs, seed=seed, batch_size=100)`` on the CPU. The embedding is used as
    given (no rescaling).

    Parameters
    ----------
    embedding : Tensor or ndarray, shape (N, D)
        Finite, N ≥ 100 (one batch).
    charts : int
        k ≥ 1.
    dim : int
        d ≥ 1.
    epochs : int
        ≥ 1.
    seed : int
        ≥ 0.
    progress : bool
        Show a progress bar.

    Returns
    -------
    AtlasAutoencoder
        In eval mode.
    """
    check_int("charts", charts, 1)
    check_int("dim", dim, 1)
    check_int("epochs", epochs, 1)
    check_int("seed", seed, 0)
    check_bool("progress", progress)
    data = torch.from_numpy(_as_float32("embedding", embedding))
    if len(data) < _BATCH:
        raise ValueError(
            f"embedding must hold at least {_BATCH} vectors (one batch), got {len(data)}"
        )
    with seeded(seed):
        model = AtlasAutoencoder((data.shape[1],), charts, dim, hidden=128)
    config = AtlasConfig(regulariser="mmd", lam=10.0, epochs=epochs, seed=seed, batch_size=_BATCH)
    train_atlas(model, data, config, progress=progress)
    return model.eval()
