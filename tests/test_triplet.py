"""Manifold triplet learning: chart distance for pml, samplers, retrieval metrics, trainer, data."""

import math

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from pytorch_metric_learning.losses import TripletMarginLoss
from pytorch_metric_learning.miners import TripletMarginMiner
from pytorch_metric_learning.utils import common_functions
from torch import nn

from toposhape.atlas import AtlasCodes, chart_distance
from toposhape.triplet import (
    DISTANCES,
    NO_SHARED_CHART,
    ChartDistance,
    EuclideanEmbedder,
    ManifoldEmbedder,
    TripletConfig,
    class_batches,
    class_split,
    embed,
    embedding_distance,
    evaluate_retrieval,
    hard_read,
    load_cars196,
    load_cub200,
    pack_codes,
    read_images,
    retrieval_metrics,
    train_triplet,
    unpack,
)


def _codes(b: int, k: int, d: int, seed: int) -> AtlasCodes:
    g = torch.Generator().manual_seed(seed)
    q = torch.softmax(2 * torch.randn(b, k, generator=g, dtype=torch.float64), dim=1)
    return AtlasCodes(q, 2 * torch.randn(b, k, d, generator=g, dtype=torch.float64))


def _disjoint_codes(k: int, d: int, seed: int) -> AtlasCodes:
    """Codes whose first half sits on chart 0 only and second half on chart 1 only."""
    codes = _codes(6, k, d, seed)
    q = codes.q.clone()
    q[:3] = nn.functional.one_hot(torch.tensor(0), k).double()
    q[3:] = nn.functional.one_hot(torch.tensor(1), k).double()
    return AtlasCodes(q, codes.logits)


# --------------------------------------------------------------------------- chart distance


def test_pack_unpack_round_trip() -> None:
    codes = _codes(5, 3, 2, seed=0)
    emb = pack_codes(codes)
    assert emb.shape == (5, 3 + 3 * 2)
    q, coords = unpack(emb, 3, 2)
    torch.testing.assert_close(q, codes.q, rtol=0, atol=0)
    torch.testing.assert_close(coords, codes.coords, rtol=0, atol=0)
    with pytest.raises(ValueError, match="emb must have shape"):
        unpack(emb, 2, 3)
    with pytest.raises(ValueError, match="charts"):
        unpack(emb, 0, 2)


@pytest.mark.parametrize("variant", ["blog", "code"])
@pytest.mark.parametrize("disjoint", [False, True])
def test_chart_distance_matrix_equals_atlas_chart_distance(variant: str, disjoint: bool) -> None:
    a = _disjoint_codes(3, 2, seed=1) if disjoint else _codes(6, 3, 2, seed=1)
    b = _codes(4, 3, 2, seed=2)
    distance = ChartDistance(3, 2, variant)
    expected = chart_distance(a.q, a.coords, a.q, a.coords, variant)
    if disjoint and variant == "blog":
        assert torch.isinf(expected).any()
    expected = torch.where(torch.isinf(expected), NO_SHARED_CHART, expected)
    got = distance(pack_codes(a))
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    cross = distance(pack_codes(a), pack_codes(b))
    torch.testing.assert_close(cross, chart_distance(a.q, a.coords, b.q, b.coords, variant))
    # paired rows: the diagonal of the matrix of the pairs
    c = AtlasCodes(a.q.flip(0), a.logits.flip(0))
    paired = distance.pairwise_distance(pack_codes(a), pack_codes(c))
    full = distance(pack_codes(a), pack_codes(c))
    torch.testing.assert_close(paired, full.diagonal())
    assert not distance.is_inverted


def _hand_distance(qa, ca, qb, cb, variant: str) -> float:
    """d_{q,φ}(x, y) by the definition, one chart at a time."""
    num = den = 0.0
    for j in range(len(qa)):
        w = float(qa[j] * qb[j])
        sq = float(((ca[j] - cb[j]) ** 2).sum())
        num += w * (math.sqrt(sq) if variant == "blog" else sq / len(ca[j]))
        den += w
    if den == 0:
        return NO_SHARED_CHART if variant == "blog" else 1.0
    return num / den


@pytest.mark.parametrize("variant", ["blog", "code"])
@pytest.mark.parametrize("disjoint", [False, True])
def test_pml_triplet_loss_is_mean_of_positive_triplet_losses(variant: str, disjoint: bool) -> None:
    codes = _disjoint_codes(2, 2, seed=3) if disjoint else _codes(6, 2, 2, seed=3)
    labels = torch.tensor([0, 1, 0, 2, 1, 2])
    margin = 0.2
    q, coords = codes.q, codes.coords
    dist = [
        [_hand_distance(q[i], coords[i], q[j], coords[j], variant) for j in range(6)]
        for i in range(6)
    ]
    losses = []
    for a in range(6):
        for p in range(6):
            for n in range(6):
                if a != p and labels[a] == labels[p] and labels[a] != labels[n]:
                    losses.append(max(dist[a][p] - dist[a][n] + margin, 0.0))
    positive = [x for x in losses if x > 0]
    assert len(losses) == 6 * 1 * 4 and positive  # 6 anchors, 1 positive, 4 negatives each
    expected = sum(positive) / len(positive)  # pml's AvgNonZeroReducer

    emb = pack_codes(codes).requires_grad_(True)
    distance = ChartDistance(2, 2, variant)
    loss = TripletMarginLoss(margin=margin, distance=distance)(emb, labels)
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    loss.backward()
    assert torch.isfinite(emb.grad).all()
    # the miner of all margin-violating triplets gives the same loss with this distance
    miner = TripletMarginMiner(margin=margin, type_of_triplets="all", distance=distance)
    mined = TripletMarginLoss(margin=margin, distance=distance)(
        emb, labels, miner(emb.detach(), labels)
    )
    assert mined.item() == pytest.approx(expected, rel=1e-9)


def test_chart_distance_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="charts"):
        ChartDistance(0, 2)
    with pytest.raises(ValueError, match="dim"):
        ChartDistance(2, 0)
    with pytest.raises(ValueError, match="variant"):
        ChartDistance(2, 2, "geodesic")


# --------------------------------------------------------------------------- models


def test_models_and_their_distances() -> None:
    torch.manual_seed(0)
    x = torch.randn(5, 8)
    manifold = ManifoldEmbedder(nn.Linear(8, 16), charts=3, dim=2)
    codes = manifold(x)
    assert codes.q.shape == (5, 3) and codes.logits.shape == (5, 3, 2)
    assert embed(manifold, x, batch_size=2).shape == (5, 3 + 6)
    distance = embedding_distance(manifold, "blog")
    assert isinstance(distance, ChartDistance) and distance.variant == "blog"

    euclidean = EuclideanEmbedder(nn.Linear(8, 16), dim=4)
    out = embed(euclidean, x)
    assert out.shape == (5, 4)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(5))
    raw = EuclideanEmbedder(nn.Linear(8, 16), dim=4, normalise=False)
    assert not torch.allclose(raw(x).norm(dim=1), torch.ones(5))
    assert not embedding_distance(raw).normalize_embeddings
    assert {manifold.distance, euclidean.distance} == set(DISTANCES)
    manifold.train()
    embed(manifold, x)
    assert manifold.training  # the mode is restored


def test_models_reject_bad_settings() -> None:
    with pytest.raises(ValueError, match="charts"):
        ManifoldEmbedder(nn.Linear(8, 4), charts=0, dim=2)
    with pytest.raises(ValueError, match="dim"):
        ManifoldEmbedder(nn.Linear(8, 4), charts=2, dim=0)
    with pytest.raises(ValueError, match="dim"):
        EuclideanEmbedder(nn.Linear(8, 4), dim=0)
    with pytest.raises(ValueError, match="out_features"):
        EuclideanEmbedder(nn.ReLU(), dim=2)
    with pytest.raises(TypeError, match="ManifoldEmbedder or EuclideanEmbedder"):
        embedding_distance(nn.Linear(2, 2))


# --------------------------------------------------------------------------- sampling


def _check_structure(batch: torch.Tensor, labels: torch.Tensor, m: int, k: int) -> None:
    assert batch.shape == (m * k,) and batch.dtype == torch.int64
    blocks = labels[batch].reshape(m, k)
    assert (blocks == blocks[:, :1]).all(), "each block of k is one class"
    assert len(set(blocks[:, 0].tolist())) == m, "m distinct classes"
    counts = torch.bincount(labels)
    for block, label in zip(batch.reshape(m, k), blocks[:, 0], strict=True):
        if counts[label] >= k:
            assert len(set(block.tolist())) == k, "without replacement"


_LABELS = torch.tensor([c for c in range(6) for _ in range(3 + c)] + [6])  # class 6: 1 image


def test_class_batches_from_pml_sampler_are_seeded() -> None:
    numpy_random = common_functions.NUMPY_RANDOM
    batches = class_batches(_LABELS, 3, 4, batches=60, seed=5)
    assert len(batches) == 60
    for batch in batches:
        _check_structure(batch, _LABELS, 3, 4)
    seen = {int(label) for batch in batches for label in _LABELS[batch]}
    assert seen == set(range(7)), "the sampler visits every class"
    assert len({tuple(b.tolist()) for b in batches}) > 50
    lone = [b for b in batches if (_LABELS[b] == 6).any()]
    assert lone and all((b[_LABELS[b] == 6] == len(_LABELS) - 1).all() for b in lone)
    same = class_batches(_LABELS, 3, 4, batches=60, seed=5)
    other = class_batches(_LABELS, 3, 4, batches=60, seed=6)
    assert all(torch.equal(a, b) for a, b in zip(batches, same, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(batches, other, strict=True))
    assert common_functions.NUMPY_RANDOM is numpy_random  # pml's RNG is restored


def test_class_batches_reject_batches_that_cannot_be_drawn() -> None:
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"classes_per_batch \(m\) = 4"):
        class_batches(labels, 4, 2, 2, 0)
    with pytest.raises(ValueError, match=r"per_class \(k\)"):
        class_batches(labels, 2, 1, 2, 0)
    with pytest.raises(ValueError, match=r"classes_per_batch \(m\)"):
        class_batches(labels, 1, 2, 2, 0)
    with pytest.raises(TypeError, match="labels"):
        class_batches(labels.float(), 2, 2, 2, 0)


def test_class_split_by_numeric_class_order() -> None:
    labels = torch.tensor([5, 3, 9, 3, 7, 5, 1, 10])
    train, test = class_split(labels, 2)
    assert train.tolist() == [1, 3, 6]  # classes 1 and 3 (10 > 9 numerically)
    assert test.tolist() == [0, 2, 4, 5, 7]
    for bad in (0, 6):
        with pytest.raises(ValueError, match="train_classes"):
            class_split(labels, bad)
    with pytest.raises(TypeError, match="train_classes"):
        class_split(labels, 2.0)


# --------------------------------------------------------------------------- retrieval


def _brute_force(dist: np.ndarray, q_labels, r_labels, same_source: bool, ks) -> dict:
    recalls = {k: [] for k in ks}
    precisions = []
    for i, row in enumerate(dist):
        keep = np.arange(len(row)) != i if same_source else np.ones(len(row), bool)
        order = np.argsort(row[keep], kind="stable")
        relevant = r_labels[keep][order] == q_labels[i]
        r = int(relevant.sum())
        if r == 0:
            continue
        for k in ks:
            recalls[k].append(relevant[:k].any())
        hits = relevant[:r]
        precisions.append(sum(hits[: j + 1].sum() / (j + 1) for j in range(r) if hits[j]) / r)
    out = {f"recall_at_{k}": float(np.mean(v)) for k, v in recalls.items()}
    return out | {"mean_average_precision_at_r": float(np.mean(precisions))}


def test_retrieval_metrics_on_a_hand_made_line() -> None:
    # 1-d points; neighbours of 0: 1, 3, 7; of 1: 0, 3, 7; of 3: 1, 0, 7; of 7: 3, 1, 0
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    labels = torch.tensor([0, 1, 0, 1])
    got = retrieval_metrics(x, labels, ks=(1, 2, 4))
    assert got["recall_at_1"] == 0.0 and got["precision_at_1"] == 0.0
    assert got["recall_at_2"] == 0.75  # all but the query 1 (neighbours 0, 3)
    assert got["recall_at_4"] == 1.0  # k beyond the 3 references: all of them
    assert got["mean_average_precision_at_r"] == 0.0  # R = 1, no first neighbour right


@pytest.mark.parametrize("distance", ["euclidean", "blog", "code"])
def test_retrieval_metrics_equal_brute_force(distance: str) -> None:
    g = torch.Generator().manual_seed(7)
    labels = torch.randint(4, (40,), generator=g)
    ref_labels = torch.randint(4, (25,), generator=g)
    ks = (1, 2, 4, 8)
    if distance == "euclidean":
        emb = torch.randn(40, 3, generator=g)
        ref = torch.randn(25, 3, generator=g)
        dist_obj = None
        full = torch.cdist(emb, emb).numpy()
        cross = torch.cdist(emb, ref).numpy()
    else:
        codes, ref_codes = _codes(40, 3, 2, seed=8), _codes(25, 3, 2, seed=9)
        emb, ref = pack_codes(codes).float(), pack_codes(ref_codes).float()
        dist_obj = ChartDistance(3, 2, distance)
        full = dist_obj(emb).numpy()
        cross = dist_obj(emb, ref).numpy()
    got = retrieval_metrics(emb, labels, distance=dist_obj, ks=ks, batch_size=7)
    expected = _brute_force(full, labels.numpy(), labels.numpy(), True, ks)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    assert got["precision_at_1"] == got["recall_at_1"]
    assert 0 <= got["mean_average_precision_at_r"] <= 1

    got = retrieval_metrics(emb, labels, ref, ref_labels, distance=dist_obj, ks=ks)
    expected = _brute_force(cross, labels.numpy(), ref_labels.numpy(), False, ks)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key


def test_recall_equals_sklearn_nearest_neighbours() -> None:
    from sklearn.neighbors import NearestNeighbors

    g = torch.Generator().manual_seed(3)
    emb, labels = torch.randn(300, 5, generator=g), torch.randint(6, (300,), generator=g)
    ks = (1, 2, 4, 8)
    # the query itself is its own nearest neighbour: ask for one more and drop it
    index = NearestNeighbors(n_neighbors=max(ks) + 1).fit(emb.numpy())
    neighbours = index.kneighbors(emb.numpy(), return_distance=False)[:, 1:]
    hits = labels.numpy()[neighbours] == labels.numpy()[:, None]
    for map_at_r in (True, False):
        got = retrieval_metrics(emb, labels, ks=ks, map_at_r=map_at_r)
        for k in ks:
            assert got[f"recall_at_{k}"] == pytest.approx(hits[:, :k].any(axis=1).mean()), k
        assert ("mean_average_precision_at_r" in got) == map_at_r


def test_hard_read_is_the_nearest_neighbour_within_the_own_chart() -> None:
    k, d = 4, 3
    codes = _codes(60, k, d, seed=11)
    emb = pack_codes(codes).float()
    hard = hard_read(emb, k, d)
    q, coords = unpack(hard, k, d)
    chart = codes.q.argmax(dim=1).numpy()
    np.testing.assert_array_equal(q.numpy(), np.eye(k)[chart])
    torch.testing.assert_close(coords, codes.coords.float())
    # brute force: Euclidean distance of the own chart's coordinates, no shared chart apart
    phi = codes.coords.float().numpy()[np.arange(60), chart]  # (60, d)
    same = chart[:, None] == chart[None, :]
    expected = np.where(same, np.linalg.norm(phi[:, None] - phi[None], axis=2), NO_SHARED_CHART)
    got = ChartDistance(k, d)(hard).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    labels = torch.randint(3, (60,), generator=torch.Generator().manual_seed(1))
    np.fill_diagonal(expected, np.inf)
    first = expected.argmin(axis=1)
    r1 = retrieval_metrics(hard, labels, distance=ChartDistance(k, d), ks=(1,))["recall_at_1"]
    assert r1 == pytest.approx((labels.numpy()[first] == labels.numpy()).mean())
    with pytest.raises(ValueError, match="emb must have shape"):
        hard_read(emb, k, d + 1)


def test_retrieval_metrics_reject_bad_input() -> None:
    x, labels = torch.randn(6, 2), torch.tensor([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="ref_emb and ref_labels"):
        retrieval_metrics(x, labels, ref_emb=x)
    with pytest.raises(ValueError, match="ks"):
        retrieval_metrics(x, labels, ks=(1, 0))
    with pytest.raises(ValueError, match="query_emb"):
        retrieval_metrics(x, labels[:5])


# --------------------------------------------------------------------------- training


def _blobs(per_class: int = 30, classes: int = 8, seed: int = 0):
    """Classes differ in the first two of 8 dimensions only; the other six are loud noise."""
    g = torch.Generator().manual_seed(seed)
    angles = torch.arange(classes) * (2 * math.pi / classes)
    means = torch.zeros(classes, 8)
    means[:, 0], means[:, 1] = 2 * torch.cos(angles), 2 * torch.sin(angles)
    labels = torch.arange(classes).repeat_interleave(per_class)
    scale = torch.tensor([0.3, 0.3, 3, 3, 3, 3, 3, 3])
    return means[labels] + scale * torch.randn(len(labels), 8, generator=g), labels


def _model(kind: str, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "manifold":
            return ManifoldEmbedder(nn.Linear(8, 16), charts=2, dim=2)
        return EuclideanEmbedder(nn.Linear(8, 16), dim=3)


_CONFIG = TripletConfig(epochs=2, classes_per_batch=3, per_class=4, lr=1e-2, optimiser="adam")


@pytest.mark.parametrize(
    ("kind", "variant"), [("manifold", "code"), ("manifold", "blog"), ("euclidean", "code")]
)
def test_train_triplet_learns_a_metric_that_transfers(kind: str, variant: str) -> None:
    x, labels = _blobs()
    train, test = class_split(labels, 4)
    model = _model(kind)
    config = TripletConfig(**{**_CONFIG.__dict__, "epochs": 3, "variant": variant})
    before = evaluate_retrieval(model, x[test], labels[test], variant=variant)
    history = train_triplet(model, x[train], labels[train], config, progress=False)
    after = evaluate_retrieval(model, x[test], labels[test], variant=variant)
    assert len(history) == 3
    keys = {"loss", "triplet", "mmd", "spread"} if kind == "manifold" else {"loss", "triplet"}
    for entry in history:
        assert keys <= entry.keys()
        assert all(math.isfinite(entry[key]) for key in keys)
    assert not model.training
    assert after["recall_at_1"] >= before["recall_at_1"]
    assert set(after) == {
        "precision_at_1",
        "mean_average_precision_at_r",
        *(f"recall_at_{k}" for k in (1, 2, 4, 8)),
    }


class _Interrupted(RuntimeError):
    pass


@pytest.mark.parametrize("kind", ["manifold", "euclidean"])
def test_train_triplet_resume_is_exact(tmp_path, kind: str) -> None:
    x, labels = _blobs(per_class=12, classes=4)  # 48 samples: 4 steps of 12 per epoch
    config = TripletConfig(**{**_CONFIG.__dict__, "epochs": 3, "seed": 3})
    reference = _model(kind, seed=1)
    history_a = train_triplet(
        reference, x, labels, config, checkpoint=tmp_path / "a.pt", progress=False
    )

    interrupted = _model(kind, seed=1)
    calls = 0

    def fail(*_) -> None:
        nonlocal calls
        calls += 1
        if calls == 7:  # third step of epoch 2
            raise _Interrupted

    interrupted.backbone.register_forward_pre_hook(fail)
    checkpoint = tmp_path / "b.pt"
    with pytest.raises(_Interrupted):
        train_triplet(interrupted, x, labels, config, checkpoint=checkpoint, progress=False)
    assert checkpoint.is_file()

    resumed = _model(kind, seed=1)
    history_b = train_triplet(resumed, x, labels, config, checkpoint=checkpoint, progress=False)
    state_a, state_b = reference.state_dict(), resumed.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in history_a]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in history_b]


def test_train_triplet_does_not_depend_on_global_rng() -> None:
    x, labels = _blobs(per_class=12, classes=4)
    config = TripletConfig(**{**_CONFIG.__dict__, "epochs": 1})
    states = []
    for global_seed in (10, 11):
        model = _model("manifold", seed=2)
        torch.manual_seed(global_seed)
        train_triplet(model, x, labels, config, progress=False)
        states.append(model.state_dict())
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name]), name


def test_train_triplet_rejects_bad_input() -> None:
    x, labels = _blobs(per_class=6, classes=2)
    with pytest.raises(ValueError, match=r"classes_per_batch \(m\) = 3"):
        train_triplet(_model("euclidean"), x, labels, _CONFIG, progress=False)
    with pytest.raises(ValueError, match="labels must have shape"):
        train_triplet(_model("euclidean"), x, labels[:-1], _CONFIG, progress=False)


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"optimiser": "sgd"}, "optimiser"),
        ({"variant": "geodesic"}, "variant"),
        ({"per_class": 1}, "per_class"),
        ({"classes_per_batch": 1}, "classes_per_batch"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 0.0}, "lr"),
        ({"margin": -0.1}, "margin"),
        ({"mmd_weight": math.nan}, "mmd_weight"),
        ({"membership_weight": -1.0}, "membership_weight"),
        ({"steps_per_epoch": 0}, "steps_per_epoch"),
    ],
)
def test_triplet_config_validation(change: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        TripletConfig(**change)


def test_triplet_config_defaults_are_the_reference_recipe() -> None:
    config = TripletConfig()
    assert (config.classes_per_batch, config.per_class, config.batch_size) == (8, 4, 32)
    assert (config.lr, config.optimiser, config.margin) == (1e-5, "rmsprop", 0.2)
    assert (config.mmd_weight, config.membership_weight) == (1.0, 0.1)


# --------------------------------------------------------------------------- user datasets


def _image(path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 9), colour).save(path)


def _fake_cub(root):
    base = root / "CUB_200_2011"
    # folder names sort alphabetically in the opposite order of the class ids
    rows = [
        (1, "zz_Albatross/a1.jpg", 1),
        (2, "zz_Albatross/a2.jpg", 1),
        (3, "yy_Auklet/b1.jpg", 100),
        (4, "bb_Warbler/c1.jpg", 101),
        (5, "aa_Wren/d1.jpg", 200),
        (6, "aa_Wren/d2.jpg", 200),
    ]
    for _, relative, label in rows:
        _image(base / "images" / relative, (label, 0, 255 - label))
    (base / "images.txt").write_text("".join(f"{i} {p}\n" for i, p, _ in rows))
    (base / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, _, c in rows))
    (base / "classes.txt").write_text(
        "1 zz_Albatross\n100 yy_Auklet\n101 bb_Warbler\n200 aa_Wren\n"
    )
    return base


def test_load_cub200_splits_by_class_id(tmp_path) -> None:
    base = _fake_cub(tmp_path)
    train_paths, train_labels, test_paths, test_labels = load_cub200(tmp_path)
    assert [p.relative_to(base / "images").as_posix() for p in train_paths] == [
        "zz_Albatross/a1.jpg",
        "zz_Albatross/a2.jpg",
        "yy_Auklet/b1.jpg",
    ]
    assert train_labels.tolist() == [1, 1, 100]
    assert [p.name for p in test_paths] == ["c1.jpg", "d1.jpg", "d2.jpg"]
    assert test_labels.tolist() == [101, 200, 200]

    images = read_images(test_paths, image_size=8)
    assert images.shape == (3, 3, 8, 8) and images.dtype == torch.float32
    torch.testing.assert_close(
        images[0, :, 4, 4], torch.tensor([101, 0, 154]) / 255.0, atol=3 / 255, rtol=0
    )


def test_load_cub200_rejects_bad_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="cub200"):
        load_cub200(tmp_path)
    base = _fake_cub(tmp_path)
    labels = base / "image_class_labels.txt"
    labels.write_text(labels.read_text() + "7 5\n")
    with pytest.raises(ValueError, match="different image ids"):
        load_cub200(tmp_path)
    labels.write_text(labels.read_text().replace("7 5\n", "").replace("6 200", "6 201"))
    with pytest.raises(ValueError, match="outside 1 … 200"):
        load_cub200(tmp_path)


def _annotations(rows: list[tuple[str, int]]) -> np.ndarray:
    dtype = [(f, "O") for f in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")]
    out = np.empty(len(rows), dtype=dtype)
    for i, (fname, label) in enumerate(rows):
        out[i] = (1, 1, 10, 8, label, fname)
    return out


def test_load_cars196_pools_both_halves_and_splits_by_class_id(tmp_path) -> None:
    base = tmp_path / "stanford_cars"
    for folder in ("cars_train", "cars_test"):
        (base / folder).mkdir(parents=True)
    (base / "devkit").mkdir()
    names = np.array([f"make {i}" for i in range(1, 197)], dtype=object)
    scipy.io.savemat(base / "devkit" / "cars_meta.mat", {"class_names": names})
    train_rows = [("00001.jpg", 150), ("00002.jpg", 3), ("00003.jpg", 98)]
    scipy.io.savemat(
        base / "devkit" / "cars_train_annos.mat", {"annotations": _annotations(train_rows)}
    )
    test_rows = [("00001.jpg", 99)]  # a single annotation
    scipy.io.savemat(
        base / "cars_test_annos_withlabels.mat", {"annotations": _annotations(test_rows)}
    )

    train_paths, train_labels, test_paths, test_labels = load_cars196(tmp_path)
    assert [p.relative_to(base).as_posix() for p in train_paths] == [
        "cars_train/00002.jpg",
        "cars_train/00003.jpg",
    ]
    assert train_labels.tolist() == [3, 98]
    assert [p.relative_to(base).as_posix() for p in test_paths] == [
        "cars_train/00001.jpg",
        "cars_test/00001.jpg",
    ]
    assert test_labels.tolist() == [150, 99]

    scipy.io.savemat(
        base / "cars_test_annos_withlabels.mat",
        {"annotations": _annotations([("00001.jpg", 197)])},
    )
    with pytest.raises(ValueError, match="outside 1 … 196"):
        load_cars196(tmp_path)


def test_load_cars196_missing(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="cars196"):
        load_cars196(tmp_path)


def test_read_images_rejects_bad_input(tmp_path) -> None:
    with pytest.raises(ValueError, match="paths"):
        read_images([])
    with pytest.raises(ValueError, match="image_size"):
        read_images([tmp_path / "x.jpg"], image_size=0)


# --------------------------------------------------------------------------- argument checks


_META = torch.device("meta")  # a second device on any machine: tensors without data
_EMB = pack_codes(_codes(4, 2, 2, seed=0))  # (4, 6), float64
_NEGATIVE_EMB = _EMB.clone()
_NEGATIVE_EMB[0, :2] = torch.tensor([1.5, -0.5], dtype=torch.float64)
_NAN_EMB = _EMB.clone()
_NAN_EMB[1, 3] = math.nan
_XS, _YS = _blobs(per_class=4, classes=3)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        # packing and the chart distance
        (lambda: pack_codes((_EMB[:, :2], _EMB[:, 2:])), TypeError, r"^codes must be AtlasCodes"),
        (lambda: pack_codes(AtlasCodes(-_codes(4, 2, 2, 0).q, _codes(4, 2, 2, 0).logits)),
         ValueError, r"^codes.q must be non-negative"),
        (lambda: unpack(_EMB, 2.0, 2), TypeError, r"^charts must be an int"),
        (lambda: unpack(_EMB, 2, True), TypeError, r"^dim must be an int"),
        (lambda: unpack(_EMB.long(), 2, 2), TypeError, r"^emb must be a floating-point tensor"),
        (lambda: unpack(_EMB.tolist(), 2, 2), TypeError, r"^emb must be a torch.Tensor"),
        (lambda: ChartDistance(2.0, 2), TypeError, r"^charts must be an int"),
        (lambda: ChartDistance(2, 2, variant=None), TypeError, r"^variant must be a string"),
        (lambda: ChartDistance(2, 2)(_NEGATIVE_EMB), ValueError,
         r"^query_emb\[:, :k\] must be non-negative"),
        (lambda: ChartDistance(2, 2)(_EMB, _NAN_EMB), ValueError,
         r"^ref_emb\[:, k:\] contains NaN or inf"),
        (lambda: ChartDistance(2, 2)(_EMB, _EMB[:, :5]), ValueError,
         r"^ref_emb must have shape \(B, k \+ k·d\) = \(B, 6\)"),
        (lambda: ChartDistance(2, 2)(_EMB[:0]), ValueError, r"^query_emb needs at least 1 rows"),
        (lambda: ChartDistance(2, 2)(_EMB, _EMB.to(_META)), ValueError,
         r"^tensors must be on one device, got query_emb on cpu, ref_emb on meta"),
        (lambda: ChartDistance(2, 2).pairwise_distance(_EMB, _NEGATIVE_EMB), ValueError,
         r"^ref_emb\[:, :k\] must be non-negative"),
        (lambda: ChartDistance(2, 2).pairwise_distance(_NAN_EMB, _EMB), ValueError,
         r"^query_emb\[:, k:\] contains NaN or inf"),
        (lambda: ChartDistance(2, 2).pairwise_distance(_EMB.to(_META), _EMB), ValueError,
         r"^tensors must be on one device, got query_emb on meta, ref_emb on cpu"),
        # models
        (lambda: ManifoldEmbedder("net", 2, 2), TypeError, r"^backbone must be an nn.Module"),
        (lambda: ManifoldEmbedder(nn.Linear(8, 4), 2.0, 2), TypeError, r"^charts must be an int"),
        (lambda: EuclideanEmbedder(nn.Linear(8, 4), 2, normalise=1), TypeError,
         r"^normalise must be a bool"),
        (lambda: _model("manifold")(_XS.to(_META)), ValueError, r"^x is on meta but the model"),
        (lambda: _model("euclidean")(_XS.tolist()), TypeError, r"^x must be a torch.Tensor"),
        (lambda: embedding_distance(_model("manifold"), "geodesic"), ValueError,
         r"^variant must be one of"),
        (lambda: embed(_model("euclidean"), _XS, batch_size=0), ValueError, r"^batch_size must be"),
        (lambda: embed(_model("euclidean"), _XS, batch_size=2.0), TypeError, r"^batch_size must"),
        (lambda: embed(_model("euclidean"), _XS * math.nan), ValueError, r"^images contains NaN"),
        (lambda: embed(_model("euclidean"), _XS[:0]), ValueError, r"^images needs at least 1 rows"),
        (lambda: embed(_model("euclidean"), _XS.long()), TypeError, r"^images must be a floating"),
        (lambda: embed(_model("euclidean"), _XS.to(_META)), ValueError, r"^images is on meta"),
        (lambda: embed(nn.Linear(8, 3), _XS), TypeError, r"^model must be a ManifoldEmbedder"),
        # sampling
        (lambda: class_batches(_YS.tolist(), 2, 2, 2, 0), TypeError,
         r"^labels must be a torch.Tensor"),
        (lambda: class_batches(_YS[:0], 2, 2, 2, 0), ValueError, r"^labels needs at least 1"),
        (lambda: class_batches(_YS, 2.0, 2, 2, 0), TypeError, r"^classes_per_batch \(m\)"),
        (lambda: class_batches(_YS, 2, 2.0, 2, 0), TypeError, r"^per_class \(k\)"),
        (lambda: class_batches(_YS, 2, 2, 0, 0), ValueError, r"^batches must be an int >= 1"),
        (lambda: class_batches(_YS, 2, 2, 2, -1), ValueError, r"^seed must be an int in"),
        (lambda: class_batches(_YS, 2, 2, 2, 2**32), ValueError, r"^seed must be an int in"),
        (lambda: class_split(_YS.bool(), 1), TypeError, r"^labels must be an integer tensor"),
        # retrieval
        (lambda: retrieval_metrics(_XS, _YS, ks=2), TypeError, r"^ks must be a sequence"),
        (lambda: retrieval_metrics(_XS, _YS, ks=()), ValueError, r"^ks must not be empty"),
        (lambda: retrieval_metrics(_XS, _YS, ks=(1.0,)), TypeError, r"^every k of ks must be"),
        (lambda: retrieval_metrics(_XS, _YS, batch_size=0), ValueError, r"^batch_size must be"),
        (lambda: retrieval_metrics(_XS, _YS, distance="l2"), TypeError,
         r"^distance must be a pytorch-metric-learning BaseDistance"),
        (lambda: retrieval_metrics(_XS * math.inf, _YS), ValueError, r"^query_emb contains NaN"),
        (lambda: retrieval_metrics(_XS, _YS.float()), TypeError,
         r"^query_labels must be an integer tensor"),
        (lambda: retrieval_metrics(_XS[:0], _YS[:0]), ValueError,
         r"^query_emb needs at least 1 rows"),
        (lambda: retrieval_metrics(_XS, _YS, _XS, _YS.to(_META)), ValueError,
         r"^tensors must be on one device, got .*ref_emb on cpu, ref_labels on meta"),
        (lambda: retrieval_metrics(_XS, _YS, _XS * math.nan, _YS), ValueError,
         r"^ref_emb contains NaN"),
        (lambda: evaluate_retrieval(_model("euclidean"), _XS, _YS[:-1]), ValueError,
         r"^labels must have shape \(N,\) = \(12,\)"),
        (lambda: evaluate_retrieval(_model("euclidean"), _XS, _YS, ks=[0]), ValueError,
         r"^every k of ks must be an int >= 1"),
        (lambda: evaluate_retrieval(_model("euclidean"), _XS, _YS, variant="l2"), ValueError,
         r"^variant must be one of"),
        # user datasets
        (lambda: load_cub200(3), TypeError, r"^root must be a path or None"),
        (lambda: load_cars196(["root"]), TypeError, r"^root must be a path or None"),
        (lambda: read_images("a.jpg"), TypeError, r"^paths must be a sequence of paths"),
        (lambda: read_images([1]), TypeError, r"^every entry of paths must be a path"),
        (lambda: read_images(["a.jpg"], image_size=64.0), TypeError, r"^image_size must be an int"),
    ],
)  # fmt: skip
def test_every_argument_is_checked(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"epochs": 1.0}, TypeError, r"^epochs must be an int"),
        ({"per_class": True}, TypeError, r"^per_class must be an int"),
        ({"lr": math.inf}, ValueError, r"^lr must be finite"),
        ({"margin": "0.2"}, TypeError, r"^margin must be a number"),
        ({"seed": -1}, ValueError, r"^seed must be an int >= 0"),
        ({"seed": 0.5}, TypeError, r"^seed must be an int"),
        ({"steps_per_epoch": 2.0}, TypeError, r"^steps_per_epoch must be an int"),
    ],
)
def test_triplet_config_checks_types(change: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        TripletConfig(**change)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"model": nn.Linear(8, 3)}, TypeError, r"^model must be a ManifoldEmbedder"),
        ({"images": _XS * math.nan}, ValueError, r"^images contains NaN or inf"),
        ({"images": _XS.to(_META)}, ValueError, r"^images is on meta but the model is on cpu"),
        ({"labels": _YS.float()}, TypeError, r"^labels must be an integer tensor"),
        ({"labels": _YS.tolist()}, TypeError, r"^labels must be a torch.Tensor"),
        ({"config": {"epochs": 1}}, TypeError, r"^config must be a TripletConfig"),
        ({"checkpoint": 1}, TypeError, r"^checkpoint must be a path or None"),
        ({"progress": "no"}, TypeError, r"^progress must be a bool"),
        ({"on_epoch": 1}, TypeError, r"^on_epoch must be callable or None"),
    ],
)
def test_train_triplet_checks_every_argument(change: dict, error: type, match: str) -> None:
    arguments = {"model": _model("euclidean"), "images": _XS, "labels": _YS}
    arguments |= {"config": _CONFIG, "progress": False}
    with pytest.raises(error, match=match):
        train_triplet(**(arguments | change))
