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
* :func:`compression_table`: bytes per vector, recall@k (and, given labels, the class
  Recall@1) and query time of all of them;
* :func:`fit_atlas_to_embedding`: an atlas autoencoder fitted to any embedding;
* :func:`chart_id_bytes`, :func:`embedding_bytes`: what one stored vector takes, counted from
  what must be stored (float32 = 4 bytes, a chart id in as few whole bytes as hold k ids).

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
    check_choice,
    check_int,
    check_optional_int,
    check_tensor,
)
from toposhape.training import seeded

__all__ = [
    "FLOAT32_BYTES",
    "READS",
    "AtlasStore",
    "chart_id_bytes",
    "compression_table",
    "dequantise",
    "embedding_bytes",
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
#: Bytes of one stored float.
FLOAT32_BYTES = 4
#: How an embedding is read for retrieval: a Euclidean vector, or an atlas code read with
#: soft memberships (the chart distance) or a hard chart assignment (chart id + coordinates).
READS = ("euclidean", "soft", "hard")


def chart_id_bytes(charts: int) -> int:
    """Whole bytes that hold a chart id in 0..k − 1: 0 for k = 1, 1 for k ≤ 256, 2 for k ≤ 65536.

    Parameters
    ----------
    charts : int
        k ≥ 1.
    """
    check_int("charts", charts, 1)
    return math.ceil((charts - 1).bit_length() / 8)


def embedding_bytes(read: str, dim: int, charts: int = 1) -> int:
    """Bytes one float32 embedding takes as ``read`` needs it stored.

    * ``"euclidean"``: ``dim`` floats (``charts`` must be 1);
    * ``"soft"``: the chart distance reads all k memberships and all k·d coordinates,
      k·(d + 1) floats; with one chart the membership is always 1 and is not stored, d floats;
    * ``"hard"``: the chart id of argmax_j q_j (:func:`chart_id_bytes`) and the d
      coordinates of that chart.

    Parameters
    ----------
    read : {"euclidean", "soft", "hard"}
    dim : int
        The vector's length, or the chart dimension d; ≥ 1.
    charts : int
        k ≥ 1.

    Returns
    -------
    int
    """
    check_choice("read", read, READS)
    check_int("dim", dim, 1)
    check_int("charts", charts, 1)
    if read == "euclidean":
        if charts != 1:
            raise ValueError(f"charts must be 1 for a euclidean read, got {charts}")
        return FLOAT32_BYTES * dim
    if read == "soft":
        return FLOAT32_BYTES * (charts * dim + (charts if charts > 1 else 0))
    return chart_id_bytes(charts) + FLOAT32_BYTES * dim


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

        The chart id takes :func:`chart_id_bytes` (0 for one chart, 1 byte for k ≤ 256, 2
        for k ≤ 65536, and so on). As faiss's
        ``sa_code_size``, this counts the code only, not the map from storage order to
        database index (``ids``), nor the k + 1 offsets. The arrays in memory hold one
        uint8 (bits ≤ 8) or uint16 per coordinate, for speed.
        """
        return chart_id_bytes(self.n_charts) + math.ceil(self.dim * self.bits / 8)

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


def faiss_baselines(
    database: torch.Tensor | np.ndarray,
    queries: torch.Tensor | np.ndarray,
    bytes_per_vector: int,
    k: int,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """faiss's compressed indices at a given memory per vector, trained on the database.

    With b = ``bytes_per_vector``:

    * ``"PCA + 8-bit"``: ``faiss.PCAMatrix(D, b)`` keeping b components, then
      ``faiss.IndexScalarQuantizer(b, QT_8bit)`` (one byte each): b bytes;
    * ``"PQ"``: ``faiss.IndexPQ(D', b, nbits)``, b sub-quantisers of nbits = min(8,
      ⌊log2 N⌋) bits (k-means needs as many training points as the 2^nbits centroids of
      every sub-quantiser), on D' = b·⌊D/b⌋ dimensions: the vectors are first rotated onto
      their D' leading principal components (``faiss.PCAMatrix(D, D')``) when b does not
      divide D. Its code takes ⌈b·nbits/8⌉ bytes, b once N ≥ 256. Its k-means is seeded
      with ``seed``.

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
    nbits, rotated = min(8, int(math.log2(n))), m * (dim // m)
    pq: faiss.Index = faiss.IndexPQ(rotated, m, nbits)
    pq.pq.cp.seed = seed
    pq_settings = f"M={m}, nbits={nbits}"
    if rotated != dim:
        pq = faiss.IndexPreTransform(faiss.PCAMatrix(dim, rotated), pq)
        pq_settings += f", PCA to {rotated}"
    rows = []
    for method, settings, index in [
        ("PCA + 8-bit", f"m={m} components", pca_sq),
        ("PQ", pq_settings, pq),
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


def _class_recall_at_1(
    found: np.ndarray, database_labels: np.ndarray, query_labels: np.ndarray
) -> float:
    """Share of queries whose first neighbour (−1: none) has the query's label."""
    first = found[:, 0]
    hit = (first >= 0) & (database_labels[np.maximum(first, 0)] == query_labels)
    return float(hit.mean())


def compression_table(
    database_emb: torch.Tensor | np.ndarray,
    query_emb: torch.Tensor | np.ndarray,
    database_codes: AtlasCodes | tuple[torch.Tensor, torch.Tensor],
    query_codes: AtlasCodes | tuple[torch.Tensor, torch.Tensor],
    k: int = 10,
    bits: int = 8,
    *,
    labels: tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Bytes per vector, recall@k and query time: float32, atlas store, faiss baselines.

    The truth is the exact L2 k-NN of the queries in the uncompressed embedding. The atlas
    store keeps, for every database vector, its chart argmax_j q_j and the coordinates of
    that chart quantised to ``bits`` bits; the faiss baselines (:func:`faiss_baselines`)
    get exactly the atlas's bytes per vector (once the database holds ≥ 256 vectors). Every
    time is single-threaded.

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
    labels : tuple (database labels (N,), query labels (Q,)) of ints, optional
        Class labels: every row then also gets ``class_recall_at_1``, the share of
        queries whose first neighbour in that store has their class.
    seed : int
        Seed of the faiss k-means, in [0, 2^31 − 1].

    Returns
    -------
    list of dict
        Rows ``"float32 (exact)"``, ``"atlas (chart + 8-bit coords)"`` (with the actual
        bits), ``"PCA + 8-bit"``, ``"PQ"``, each with ``method``, ``settings``,
        ``bytes_per_vector``, ``recall_at_{k}``, ``seconds_per_query`` and, given
        ``labels``, ``class_recall_at_1``.
    """
    check_int("k", k, 1)
    check_int("bits", bits, 1, _MAX_BITS)
    check_int("seed", seed, 0, _FAISS_SEED_MAX)
    database, queries = _check_vectors(database_emb, query_emb)
    if labels is not None:
        if not isinstance(labels, tuple) or len(labels) != 2:
            raise TypeError(
                f"labels must be a tuple (database labels, query labels) or None, got "
                f"{type(labels).__name__}"
            )
        db_labels = check_array("labels[0]", labels[0], 1, integer=True)
        query_labels = check_array("labels[1]", labels[1], 1, integer=True)
        if (len(db_labels), len(query_labels)) != (len(database), len(queries)):
            raise ValueError(
                f"labels must have one entry per vector: {len(db_labels)} database labels "
                f"for {len(database)} vectors, {len(query_labels)} query labels for "
                f"{len(queries)}"
            )
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
    searches = [
        (
            "float32 (exact)",
            f"D={database.shape[1]}",
            FLOAT32_BYTES * database.shape[1],
            truth,
            exact_seconds,
        ),
        (
            f"atlas (chart + {bits}-bit coords)",
            f"k={charts} charts, d={store.dim}",
            store.bytes_per_vector,
            found,
            atlas_seconds,
        ),
    ]
    for row in faiss_baselines(database, queries, store.bytes_per_vector, k, seed):
        searches.append(
            (
                row["method"],
                row["settings"],
                row["bytes_per_vector"],
                row["neighbours"],
                row["seconds_per_query"],
            )
        )
    rows = []
    for method, settings, size, neighbours, seconds in searches:
        row = {
            "method": method,
            "settings": settings,
            "bytes_per_vector": size,
            f"recall_at_{k}": recall_at_k(neighbours, truth),
            "seconds_per_query": seconds,
        }
        if labels is not None:
            row["class_recall_at_1"] = _class_recall_at_1(neighbours, db_labels, query_labels)
        rows.append(row)
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
