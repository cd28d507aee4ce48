"""Atlas codes as a compressed vector store: quantisation, store search, faiss baselines."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch.nn import functional as F

from toposhape.atlas import AtlasCodes
from toposhape.compression import (
    FLOAT32_BYTES,
    AtlasStore,
    chart_id_bytes,
    compression_table,
    dequantise,
    embedding_bytes,
    exact_neighbours,
    faiss_baselines,
    fit_atlas_to_embedding,
    quantise,
    recall_at_k,
)


def _brute_force(
    store_charts: np.ndarray,
    store_coords: np.ndarray,
    query_charts: np.ndarray,
    query_coords: np.ndarray,
    k: int,
) -> np.ndarray:
    """Same-chart candidates sorted by (distance of dequantised coords, index), −1 fill."""
    found = np.full((len(query_charts), k), -1, dtype=np.int64)
    for i, (chart, coords) in enumerate(zip(query_charts, query_coords, strict=True)):
        candidates = np.flatnonzero(store_charts == chart)
        dist = np.linalg.norm(store_coords[candidates] - coords.astype(np.float64), axis=1)
        best = candidates[np.argsort(dist, kind="stable")][:k]
        found[i, : len(best)] = best
    return found


def _squares(n_per: int, seed: int) -> tuple[np.ndarray, AtlasCodes]:
    """Points on 3 unit squares in R^16 far apart, and their hand-built atlas codes.

    Square c is offset_c + P_c u with P_c (16, 2) orthonormal (both fixed) and u uniform
    on [0,1]^2 (drawn with ``seed``); its codes are q = one-hot(c) and coordinates u in
    chart c (0.5 elsewhere).
    """
    frame = np.random.default_rng(1234)
    planes = np.stack([np.linalg.qr(frame.normal(size=(16, 2)))[0] for _ in range(3)])
    offsets = 100.0 * frame.normal(size=(3, 16))
    chart = np.repeat(np.arange(3), n_per)
    u = np.random.default_rng(seed).uniform(size=(len(chart), 2))
    points = offsets[chart] + np.einsum("nij,nj->ni", planes[chart], u)
    coords = torch.full((len(chart), 3, 2), 0.5)
    coords[torch.arange(len(chart)), torch.from_numpy(chart)] = torch.from_numpy(u).float()
    q = F.one_hot(torch.from_numpy(chart), 3).float()
    return points.astype(np.float32), AtlasCodes(q, torch.logit(coords))


# --------------------------------------------------------------------------- quantisation


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    coords=hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=20),
        elements=st.floats(0.0, 1.0, width=32),
    ),
    bits=st.integers(1, 16),
)
def test_quantise_round_trip_error_is_at_most_half_a_bin(coords: np.ndarray, bits: int) -> None:
    codes = quantise(coords, bits)
    assert codes.shape == coords.shape
    assert codes.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert codes.max() <= 2**bits - 1
    back = dequantise(codes, bits)
    assert back.dtype == np.float32 and back.shape == coords.shape
    err = np.abs(back.astype(np.float64) - coords.astype(np.float64)).max()
    assert err <= 1 / 2 ** (bits + 1)  # bin centres
    assert err <= 1 / (2 * (2**bits - 1))  # the bound of levels at the endpoints
    np.testing.assert_array_equal(quantise(back, bits), codes)  # centres are fixed points


@pytest.mark.parametrize("bits", [1, 3, 8, 12, 16])
def test_quantise_is_monotone_and_covers_all_levels(bits: int) -> None:
    x = np.linspace(0.0, 1.0, 200_001)[:, None]
    codes = quantise(torch.from_numpy(x), bits).ravel().astype(np.int64)
    assert (np.diff(codes) >= 0).all()
    assert codes[0] == 0 and codes[-1] == 2**bits - 1
    assert len(np.unique(codes)) == 2**bits  # the grid step 5e-6 is finer than every bin


def test_quantise_of_bin_edges() -> None:
    # bins [0, 1/4), [1/4, 1/2), [1/2, 3/4), [3/4, 1]; centres 1/8, 3/8, 5/8, 7/8
    codes = quantise(np.array([[0.0, 0.2499, 0.25, 0.5, 0.75, 1.0]]), bits=2)
    np.testing.assert_array_equal(codes, [[0, 0, 1, 2, 3, 3]])
    np.testing.assert_array_equal(
        dequantise(codes, 2), [[0.125, 0.125, 0.375, 0.625, 0.875, 0.875]]
    )


@pytest.mark.parametrize(
    ("bits", "error"), [(0, ValueError), (17, ValueError), (-1, ValueError), (2.0, TypeError),
                        (True, TypeError)]
)  # fmt: skip
def test_bad_bits(bits: object, error: type) -> None:
    with pytest.raises(error, match="bits"):
        quantise(np.zeros((2, 2)), bits)  # type: ignore[arg-type]
    with pytest.raises(error, match="bits"):
        dequantise(np.zeros((2, 2), dtype=np.uint8), bits)  # type: ignore[arg-type]


def test_bad_coords_and_codes() -> None:
    for bad in (np.array([[1.5]]), np.array([[-0.1]]), np.array([[np.nan]])):
        with pytest.raises(ValueError, match="coords"):
            quantise(bad)
    with pytest.raises(ValueError, match="coords"):
        quantise(np.zeros(3))
    with pytest.raises(ValueError, match="codes"):
        dequantise(np.array([[4]], dtype=np.uint8), bits=2)
    with pytest.raises(TypeError, match="codes"):
        dequantise(np.array([[0.5]]), bits=2)


# --------------------------------------------------------------------------- atlas store


@pytest.mark.parametrize(("bits", "k"), [(2, 5), (8, 10), (12, 3)])
def test_store_search_equals_brute_force(bits: int, k: int) -> None:
    rng = np.random.default_rng(bits)
    n, n_charts, dim = 400, 6, 2
    charts = rng.integers(0, n_charts - 1, size=n)  # chart 5 stays empty
    charts[:3] = 4  # ... and chart 4 holds a few more
    coords = rng.uniform(size=(n, dim))
    store = AtlasStore(charts, torch.from_numpy(coords), bits=bits, n_charts=n_charts)
    assert len(store) == n
    query_charts = rng.integers(0, n_charts, size=80)
    query_coords = rng.uniform(size=(80, dim)).astype(np.float32)
    found = store.search(query_charts, query_coords, k)
    assert found.shape == (80, k) and found.dtype == np.int64
    expected = _brute_force(
        charts, dequantise(quantise(coords, bits), bits), query_charts, query_coords, k
    )
    np.testing.assert_array_equal(found, expected)
    assert (found[query_charts == 5] == -1).all()
    valid = found >= 0
    assert (
        charts[found[valid]] == np.broadcast_to(query_charts[:, None], found.shape)[valid]
    ).all()


def test_store_breaks_ties_by_index_and_fills_small_charts() -> None:
    # chart 0: indices 0, 2, 4 at the same point, 5 nearer; chart 1: indices 1, 3
    charts = np.array([0, 1, 0, 1, 0, 0])
    coords = np.array([[0.5, 0.5], [0.1, 0.1], [0.5, 0.5], [0.9, 0.9], [0.5, 0.5], [0.3, 0.3]])
    store = AtlasStore(charts, coords, bits=8)
    found = store.search(np.array([0, 0, 1]), np.array([[0.3, 0.3], [0.6, 0.6], [0.0, 0.0]]), 3)
    np.testing.assert_array_equal(found, [[5, 0, 2], [0, 2, 4], [1, 3, -1]])
    np.testing.assert_array_equal(
        store.search(np.array([0]), np.array([[0.6, 0.6]]), 6), [[0, 2, 4, 5, -1, -1]]
    )


def test_store_search_of_many_duplicates() -> None:
    # 1 bit in 1-D: two codes only, so nearly all distances tie
    rng = np.random.default_rng(0)
    charts = rng.integers(0, 2, size=300)
    coords = rng.uniform(size=(300, 1))
    store = AtlasStore(charts, coords, bits=1)
    query_charts, query_coords = rng.integers(0, 2, size=50), rng.uniform(size=(50, 1))
    expected = _brute_force(
        charts, dequantise(quantise(coords, 1), 1), query_charts, query_coords, 20
    )
    np.testing.assert_array_equal(store.search(query_charts, query_coords, 20), expected)


@pytest.mark.parametrize(
    ("n_charts", "dim", "bits", "expected"),
    [(15, 2, 8, 3), (15, 8, 8, 9), (256, 2, 8, 3), (300, 2, 8, 4), (15, 3, 4, 3), (15, 2, 12, 4),
     (1, 2, 8, 2)],
)  # fmt: skip
def test_bytes_per_vector(n_charts: int, dim: int, bits: int, expected: int) -> None:
    store = AtlasStore(np.zeros(4, dtype=np.int64), np.full((4, dim), 0.5), bits, n_charts)
    assert store.bytes_per_vector == expected


@given(st.integers(1, 2**20))
def test_chart_ids_take_the_fewest_whole_bytes(charts: int) -> None:
    needed = chart_id_bytes(charts)
    assert 256**needed >= charts  # enough for the ids 0 .. k − 1
    assert needed == 0 or 256 ** (needed - 1) < charts  # and no more


def test_embedding_bytes_count_what_is_stored() -> None:
    assert FLOAT32_BYTES == np.dtype(np.float32).itemsize
    assert embedding_bytes("euclidean", 9) == 36
    assert embedding_bytes("soft", 2, charts=8) == 4 * (8 + 8 * 2)
    assert embedding_bytes("soft", 64, charts=1) == 256  # one chart: q is always 1
    assert embedding_bytes("hard", 2, charts=8) == 1 + 8
    assert embedding_bytes("hard", 64, charts=1) == 256  # one chart: no id
    assert embedding_bytes("hard", 2, charts=300) == 2 + 8
    with pytest.raises(ValueError, match=r"^charts must be 1"):
        embedding_bytes("euclidean", 9, charts=2)
    with pytest.raises(ValueError, match=r"^read must be one of"):
        embedding_bytes("blog", 9)


def test_store_rejects_bad_input() -> None:
    charts, coords = np.array([0, 1, 1]), np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="charts"):
        AtlasStore(np.array([0, 1]), coords)
    with pytest.raises(TypeError, match="charts"):
        AtlasStore(np.array([0.0, 1.0, 1.0]), coords)
    with pytest.raises(ValueError, match="n_charts"):
        AtlasStore(charts, coords, n_charts=1)
    with pytest.raises(ValueError, match="charts"):
        AtlasStore(np.array([0, -1, 1]), coords)
    store = AtlasStore(charts, coords)
    with pytest.raises(ValueError, match="query_charts"):
        store.search(np.array([2]), np.full((1, 2), 0.5), 1)
    with pytest.raises(ValueError, match="query_coords"):
        store.search(np.array([0]), np.full((1, 3), 0.5), 1)
    with pytest.raises(ValueError, match="k"):
        store.search(np.array([0]), np.full((1, 2), 0.5), 0)


# --------------------------------------------------------------------------- recall, exact search


def test_recall_at_k_by_hand() -> None:
    truth = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert recall_at_k(truth[:, ::-1], truth) == 1.0
    assert recall_at_k(np.array([[1, 2, 9, 10], [8, 7, -1, -1]]), truth) == 0.5
    assert recall_at_k(np.array([[9, 10, 11, 12], [-1, -1, -1, -1]]), truth) == 0.0
    assert recall_at_k(np.array([[4, -1, -1, -1], [5, 6, 7, -1]]), truth) == 0.5
    # a −1 in the truth (fewer than k true neighbours) is never matched
    assert recall_at_k(np.array([[-1, 1]]), np.array([[1, -1]])) == 0.5
    with pytest.raises(ValueError, match="shape"):
        recall_at_k(truth[:, :2], truth)


def test_exact_neighbours_equal_numpy_brute_force() -> None:
    rng = np.random.default_rng(0)
    database, queries = rng.normal(size=(500, 12)), rng.normal(size=(40, 12))
    found = exact_neighbours(torch.from_numpy(database), queries, 7)
    assert found.shape == (40, 7) and found.dtype == np.int64
    dist = ((queries[:, None, :] - database[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(found, np.argsort(dist, axis=1)[:, :7])
    with pytest.raises(ValueError, match="differ in D"):
        exact_neighbours(database, queries[:, :5], 7)


# --------------------------------------------------------------------------- faiss baselines


def _clusters(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = 20.0 * rng.normal(size=(20, 16))
    database = centres[rng.integers(0, 20, size=2000)] + rng.normal(size=(2000, 16))
    queries = centres[rng.integers(0, 20, size=100)] + rng.normal(size=(100, 16))
    return database.astype(np.float32), queries.astype(np.float32)


def test_faiss_baselines_sizes_and_recall() -> None:
    database, queries = _clusters(0)
    truth = exact_neighbours(database, queries, 10)
    for requested in (3, 5, 16):
        rows = {row["method"]: row for row in faiss_baselines(database, queries, requested, 10)}
        assert set(rows) == {"PCA + 8-bit", "PQ"}
        assert rows["PCA + 8-bit"]["bytes_per_vector"] == requested
        assert rows["PQ"]["bytes_per_vector"] == requested  # exactly equal bytes
        for row in rows.values():
            assert row["neighbours"].shape == (100, 10)
            assert ((row["neighbours"] >= 0) & (row["neighbours"] < 2000)).all()
            assert row["seconds_per_query"] > 0
    assert rows["PQ"]["settings"] == "M=16, nbits=8"  # 16 divides D = 16: no rotation
    five = {row["method"]: row for row in faiss_baselines(database, queries, 5, 10)}
    assert five["PQ"]["settings"] == "M=5, nbits=8, PCA to 15"
    # m = D keeps every component: only the 8-bit rounding is lost
    assert recall_at_k(rows["PCA + 8-bit"]["neighbours"], truth) > 0.9
    assert rows["PQ"]["bytes_per_vector"] == 16


def test_faiss_pq_uses_fewer_bits_on_a_small_database() -> None:
    database, queries = _clusters(1)
    rows = faiss_baselines(database[:100], queries, 4, 5)
    pq = next(row for row in rows if row["method"] == "PQ")
    assert pq["settings"] == "M=4, nbits=6"  # 2^6 ≤ 100 < 2^7
    assert pq["bytes_per_vector"] == 3  # ⌈4·6/8⌉
    assert ((pq["neighbours"] >= 0) & (pq["neighbours"] < 100)).all()
    with pytest.raises(ValueError, match="bytes_per_vector"):
        faiss_baselines(database, queries, 17, 5)


# --------------------------------------------------------------------------- the table


def test_compression_table_on_an_obvious_atlas() -> None:
    points, codes = _squares(300, seed=0)
    queries, query_codes = _squares(20, seed=1)
    # (q, coords) tuples are accepted as well as AtlasCodes
    query_codes = (query_codes.q, query_codes.coords)
    rows = {row["method"]: row for row in compression_table(points, queries, codes, query_codes)}
    assert list(rows) == ["float32 (exact)", "atlas (chart + 8-bit coords)", "PCA + 8-bit", "PQ"]
    assert rows["float32 (exact)"]["bytes_per_vector"] == 64
    assert rows["float32 (exact)"]["recall_at_10"] == 1.0
    atlas = rows["atlas (chart + 8-bit coords)"]
    assert atlas["bytes_per_vector"] == 3
    assert atlas["recall_at_10"] > 0.8
    # 3 PCA components mostly keep the offsets between the squares, not the squares
    assert atlas["recall_at_10"] > rows["PCA + 8-bit"]["recall_at_10"]
    assert rows["PCA + 8-bit"]["bytes_per_vector"] == 3
    assert rows["PQ"]["bytes_per_vector"] == 3
    for row in rows.values():
        assert 0.0 <= row["recall_at_10"] <= 1.0 and row["seconds_per_query"] > 0


def test_class_recall_at_1_equals_sklearn_nearest_neighbour() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    points, codes = _squares(300, seed=0)
    queries, query_codes = _squares(20, seed=1)
    rng = np.random.default_rng(5)
    db_labels, query_labels = rng.integers(0, 4, len(points)), rng.integers(0, 4, len(queries))
    rows = compression_table(points, queries, codes, query_codes, labels=(db_labels, query_labels))
    exact = next(r for r in rows if r["method"] == "float32 (exact)")
    oracle = KNeighborsClassifier(n_neighbors=1).fit(points, db_labels)
    assert exact["class_recall_at_1"] == pytest.approx(oracle.score(queries, query_labels))
    assert all(0 <= r["class_recall_at_1"] <= 1 for r in rows)
    with pytest.raises(ValueError, match="labels must have one entry per vector"):
        compression_table(
            points, queries, codes, query_codes, labels=(db_labels[:-1], query_labels)
        )
    with pytest.raises(TypeError, match="labels must be a tuple"):
        compression_table(points, queries, codes, query_codes, labels=[db_labels, query_labels])


def test_compression_table_rejects_mismatched_codes() -> None:
    points, codes = _squares(40, seed=0)
    queries, query_codes = _squares(5, seed=1)
    with pytest.raises(ValueError, match="one row per vector"):
        compression_table(points[:-1], queries, codes, query_codes)
    two_charts = F.one_hot(query_codes.q.argmax(dim=1) % 2, 2).float()
    with pytest.raises(ValueError, match="different charts"):
        compression_table(points, queries, codes, (two_charts, query_codes.coords[:, :2]))
    with pytest.raises(ValueError, match=r"rows of query_codes\[0\] must sum to 1"):
        compression_table(points, queries, codes, (query_codes.q[:, :2], query_codes.coords[:, :2]))
    with pytest.raises(ValueError, match="query_codes"):
        compression_table(points, queries, codes, (query_codes.q, query_codes.coords[:, :, 0]))


# --------------------------------------------------------------------------- fitting


def test_fit_atlas_to_embedding_smoke() -> None:
    embedding = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    state = torch.random.get_rng_state()
    model = fit_atlas_to_embedding(embedding, charts=4, dim=2, epochs=2, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert not model.training
    assert (model.charts, model.dim, model.config["hidden"]) == (4, 2, 128)
    with torch.no_grad():
        codes = model.encode(torch.from_numpy(embedding))
    assert codes.q.shape == (300, 4) and codes.coords.shape == (300, 4, 2)
    torch.testing.assert_close(codes.q.sum(dim=1), torch.ones(300))
    again = fit_atlas_to_embedding(torch.from_numpy(embedding), charts=4, dim=2, epochs=2, seed=0)
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="embedding"):
        fit_atlas_to_embedding(embedding[:50], charts=4, dim=2, epochs=1, seed=0)


# --------------------------------------------------------------------------- argument checks


_META = torch.device("meta")  # a second device on any machine: tensors without data
_HALF = np.full((3, 2), 0.5)
_STORE = AtlasStore(np.array([0, 1, 1]), _HALF)
_DB = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
_POINTS, _CODES = _squares(4, seed=0)  # 12 points of R^16 and their codes (k = 3, d = 2)


def _table(**change):
    arguments = {"database_emb": _POINTS, "query_emb": _POINTS[:3]}
    arguments |= {"database_codes": _CODES, "query_codes": AtlasCodes(*(t[:3] for t in _CODES))}
    return compression_table(**(arguments | change))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        # quantisation
        (lambda: quantise(_HALF.tolist()), TypeError, r"^coords must be a Tensor or ndarray"),
        (lambda: quantise(_HALF > 0), TypeError, r"^coords must hold real numbers"),
        (lambda: quantise(_HALF[:0]), ValueError, r"^coords needs at least 1 rows"),
        (lambda: quantise(_HALF + np.inf), ValueError, r"^coords contains NaN or inf"),
        (lambda: dequantise(np.zeros((0, 2), dtype=np.uint8)), ValueError, r"^codes needs at"),
        (lambda: dequantise([[1, 2]]), TypeError, r"^codes must be a Tensor or ndarray"),
        # the store
        (lambda: AtlasStore(np.array([0, 1, 1]), _HALF, n_charts=2.0), TypeError,
         r"^n_charts must be an int"),
        (lambda: AtlasStore(np.array([0, 1, 1]), _HALF, n_charts=0), ValueError,
         r"^n_charts must be an int >= 1"),
        (lambda: AtlasStore(np.array([], dtype=np.int64), _HALF[:0]), ValueError,
         r"^charts needs at least 1 rows"),
        (lambda: AtlasStore(np.array([0, 1, 1]), _HALF * np.nan), ValueError,
         r"^coords contains NaN or inf"),
        (lambda: AtlasStore(np.array([0, 1, 1]), _HALF, bits=8.0), TypeError, r"^bits must be"),
        (lambda: _STORE.search(np.array([0]), _HALF[:1], 1.0), TypeError, r"^k must be an int"),
        (lambda: _STORE.search(np.array([0.0]), _HALF[:1], 1), TypeError,
         r"^query_charts must hold integers"),
        (lambda: _STORE.search(np.array([], dtype=np.int64), _HALF[:0], 1), ValueError,
         r"^query_charts needs at least 1 rows"),
        (lambda: _STORE.search(np.array([0]), _HALF[:1] * np.nan, 1), ValueError,
         r"^query_coords contains NaN or inf"),
        (lambda: _STORE.search(np.array([-1]), _HALF[:1], 1), ValueError,
         r"^query_charts must lie in 0\.\.1"),
        # recall and exact search
        (lambda: recall_at_k(np.zeros((2, 2)), np.zeros((2, 2), dtype=int)), TypeError,
         r"^found must hold integers"),
        (lambda: recall_at_k([[0, 1]], np.array([[0, 1]])), TypeError, r"^found must be a Tensor"),
        (lambda: recall_at_k(np.array([[0, -2]]), np.array([[0, 1]])), ValueError,
         r"^found must hold indices >= 0, or -1"),
        (lambda: recall_at_k(np.zeros((0, 2), int), np.zeros((0, 2), int)), ValueError,
         r"^found needs at least 1 rows"),
        (lambda: recall_at_k(np.zeros((2, 0), int), np.zeros((2, 0), int)), ValueError,
         r"^found and truth need k >= 1 columns"),
        (lambda: exact_neighbours(_DB, _DB, 0), ValueError, r"^k must be an int >= 1"),
        (lambda: exact_neighbours(_DB, _DB, 1.0), TypeError, r"^k must be an int"),
        (lambda: exact_neighbours(_DB, _DB[:0], 3), ValueError, r"^queries needs at least 1 rows"),
        (lambda: exact_neighbours(_DB * np.nan, _DB, 3), ValueError, r"^database contains NaN"),
        (lambda: exact_neighbours(_DB.astype(np.float64) * 1e300, _DB, 3), ValueError,
         r"^database overflows float32"),
        (lambda: exact_neighbours(_DB, _DB.tolist(), 3), TypeError, r"^queries must be a Tensor"),
        (lambda: exact_neighbours(_DB[:, :0], _DB[:, :0], 3), ValueError,
         r"^database must have at least 1 column"),
        (lambda: faiss_baselines(_DB, _DB, 2, 3, seed=-1), ValueError, r"^seed must be an int in"),
        (lambda: faiss_baselines(_DB, _DB, 2, 3, seed=2**31), ValueError, r"^seed must be"),
        (lambda: faiss_baselines(_DB, _DB, 2, 3, seed=0.5), TypeError, r"^seed must be an int"),
        (lambda: faiss_baselines(_DB, _DB, 2.0, 3), TypeError, r"^bytes_per_vector must be an"),
        # the table
        (lambda: _table(bits=0), ValueError, r"^bits must be an int in \[1, 16\]"),
        (lambda: _table(k=2.0), TypeError, r"^k must be an int"),
        (lambda: _table(database_codes=[_CODES.q, _CODES.logits]), TypeError,
         r"^database_codes must be AtlasCodes or a tuple \(q, coords\)"),
        (lambda: _table(query_codes=(_CODES.q, _CODES.coords, None)), TypeError,
         r"^query_codes must be AtlasCodes or a tuple"),
        (lambda: _table(database_codes=AtlasCodes(_CODES.q, _CODES.logits * np.nan)), ValueError,
         r"^database_codes.logits contains NaN or inf"),
        (lambda: _table(database_codes=(-_CODES.q, _CODES.coords)), ValueError,
         r"^database_codes\[0\] must be non-negative"),
        (lambda: _table(database_codes=(_CODES.q, _CODES.coords.to(_META))), ValueError,
         r"^tensors must be on one device, got database_codes\[0\] on cpu, "
         r"database_codes\[1\] on meta"),
        # fitting
        (lambda: fit_atlas_to_embedding(_DB, 0, 2, 1, 0), ValueError, r"^charts must be an int"),
        (lambda: fit_atlas_to_embedding(_DB, 2, 1.0, 1, 0), TypeError, r"^dim must be an int"),
        (lambda: fit_atlas_to_embedding(_DB, 2, 1, 0, 0), ValueError, r"^epochs must be an int"),
        (lambda: fit_atlas_to_embedding(_DB, 2, 1, 1, -1), ValueError, r"^seed must be an int"),
        (lambda: fit_atlas_to_embedding(_DB, 2, 1, 1, 0, progress=None), TypeError,
         r"^progress must be a bool"),
        (lambda: fit_atlas_to_embedding(_DB * np.nan, 2, 1, 1, 0), ValueError,
         r"^embedding contains NaN or inf"),
    ],
)  # fmt: skip
def test_every_argument_is_checked(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_store_accepts_torch_charts() -> None:
    store = AtlasStore(torch.tensor([0, 1, 1]), torch.tensor(_HALF))
    found = store.search(torch.tensor([1]), torch.tensor(_HALF[:1]), 2)
    np.testing.assert_array_equal(found, [[1, 2]])
