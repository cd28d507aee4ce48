"""Contrastive learning: augmentation, SimCLR / MSimCLR models, NT-Xent usage, trainer, probes."""

import math

import numpy as np
import pytest
import torch
from pytorch_metric_learning.losses import NTXentLoss, SupConLoss
from scipy.spatial.distance import cdist
from torch.nn import functional as F
from torchvision.transforms import v2

import toposhape.contrastive as contrastive
from toposhape.atlas import AtlasCodes
from toposhape.contrastive import (
    ContrastiveConfig,
    MSimCLRModel,
    SimCLRModel,
    SmallConvNet,
    augment_batch,
    build_msimclr,
    build_simclr,
    chart_probe,
    features,
    knn_probe,
    linear_probe,
    representation,
    resnet18_cifar,
    simclr_augment,
    train_contrastive,
)
from toposhape.training import seeded


def _shapes(n: int, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n images (n, 1, size, size): squares (class 0) and discs (class 1) at random places."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    images = torch.zeros(n, 1, size, size)
    for i in range(n):
        r, c = torch.randint(4, size - 4, (2,), generator=g).tolist()
        if labels[i] == 0:
            mask = ((rows - r).abs() <= 3) & ((cols - c).abs() <= 3)
        else:
            mask = (rows - r) ** 2 + (cols - c) ** 2 <= 9
        images[i, 0, mask] = 1.0
    return images, labels


# --------------------------------------------------------------------------- augmentation


@pytest.mark.parametrize("channels", [1, 3])
def test_augment_batch_shape_and_range(channels: int) -> None:
    transform = simclr_augment(12, channels)
    x = torch.rand(5, channels, 16, 16, generator=torch.Generator().manual_seed(0))
    out = augment_batch(x, transform, torch.Generator().manual_seed(1))
    assert out.shape == (5, channels, 12, 12)
    assert out.dtype == torch.float32
    assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6


def test_augment_batch_depends_only_on_generator() -> None:
    transform = simclr_augment(16, 3)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(10)
    before = torch.get_rng_state()
    a = augment_batch(x, transform, torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), before)  # the global RNG is untouched
    torch.manual_seed(11)  # another global state: same result
    b = augment_batch(x, transform, torch.Generator().manual_seed(5))
    c = augment_batch(x, transform, torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_augment_batch_draws_per_image() -> None:
    images, _ = _shapes(2)
    x = images[:1].expand(6, -1, -1, -1)  # six copies of one image
    out = augment_batch(x, simclr_augment(16, 1), torch.Generator().manual_seed(0))
    assert len({out[i].numpy().tobytes() for i in range(6)}) == 6


def test_simclr_crop_is_torchvisions_resized_crop() -> None:
    # oracle: torchvision's resized_crop on the box kornia drew, image by image
    transform = simclr_augment(12, 3)
    x = torch.rand(6, 3, 20, 20, generator=torch.Generator().manual_seed(3))
    crop = transform[0]
    out = crop(x)
    boxes = crop._params["src"]  # (B, 4, 2): corners (x, y), inclusive
    assert len({tuple(box.flatten().tolist()) for box in boxes}) == 6  # per-image boxes
    for image, box, got in zip(x, boxes.long(), out, strict=True):
        left, top = box[0].tolist()
        right, bottom = box[2].tolist()
        want = v2.functional.resized_crop(
            image, top, left, bottom - top + 1, right - left + 1, [12, 12], antialias=False
        )
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_simclr_crop_area_follows_the_scale_range() -> None:
    crop = simclr_augment(16, 1)[0]
    with seeded(0):
        crop(torch.rand(2000, 1, 16, 16))
    box = crop._params["src"]
    area = ((box[:, 2] - box[:, 0] + 1).prod(dim=1) / 256).numpy()
    assert area.min() >= 0.2 - 1 / 16 and area.max() <= 1.0
    assert np.quantile(area, 0.9) > 0.8 and np.quantile(area, 0.1) < 0.35  # spread over the range


def test_simclr_jitter_applies_with_probability_0_8() -> None:
    x = torch.full((4000, 1, 8, 8), 0.5)
    with seeded(1):
        out = simclr_augment(8, 1)(x)
    changed = (out - x).abs().amax(dim=(1, 2, 3)) > 1e-4
    assert abs(changed.float().mean().item() - 0.8) < 0.03  # 4000 draws: std 0.006


def test_simclr_augment_settings() -> None:
    gray, colour = simclr_augment(28, 1), simclr_augment(32, 3)
    assert "scale=(0.2, 1.0)" in repr(gray) and "output_size=(28, 28)" in repr(gray)
    assert "align_corners=False" in repr(gray)
    assert "RandomGrayscale" not in repr(gray) and "saturation=0.0, hue=0.0" in repr(gray)
    assert "RandomGrayscale(p=0.2" in repr(colour)
    assert "saturation=0.4, hue=0.1, p=0.8" in repr(colour)


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize(("channels", "size"), [(1, 8), (1, 16), (1, 28), (3, 32)])
def test_small_convnet_shapes(channels: int, size: int) -> None:
    net = SmallConvNet(channels)
    assert net.out_features == 128
    assert net(torch.rand(3, channels, size, size)).shape == (3, 128)


def test_small_convnet_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="x must"):
        SmallConvNet(1)(torch.rand(2, 1, 6, 6))
    with pytest.raises(ValueError, match="x must"):
        SmallConvNet(1)(torch.rand(2, 3, 16, 16))


def test_resnet18_cifar_shapes() -> None:
    net = resnet18_cifar(3)
    assert net.out_features == 512
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, torch.nn.Identity)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 512)
    model = build_simclr("resnet18", 1, 28, dim=8, seed=0)
    assert model.embed(torch.rand(2, 1, 28, 28)).shape == (2, 8)


def test_simclr_model_shapes_and_heads() -> None:
    model = build_simclr("small", 1, 16, dim=3, seed=0, proj_dim=5)
    x = torch.rand(4, 1, 16, 16)
    assert model.embed(x).shape == (4, 3)
    assert model.project(x).shape == (4, 5)
    torch.testing.assert_close(model(x), model.head(model.embed(x)))
    assert all(layer.bias is None for layer in model.head if isinstance(layer, torch.nn.Linear))
    assert model.config["dim"] == 3 and model.config["backbone"] == "small"


def test_build_is_seeded_and_leaves_global_rng() -> None:
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a = build_msimclr("small", 1, 16, charts=3, dim=2, seed=7)
    assert torch.equal(torch.get_rng_state(), before)
    b = build_msimclr("small", 1, 16, charts=3, dim=2, seed=7)
    c = build_msimclr("small", 1, 16, charts=3, dim=2, seed=8)
    for name, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[name]), name
    assert not torch.equal(a.atlas.coordinates.weight, c.atlas.coordinates.weight)


def test_msimclr_projection_is_q_weighted_sum_of_chart_heads() -> None:
    k, d, p = 4, 3, 5
    model = build_msimclr("small", 1, 16, charts=k, dim=d, seed=0, proj_dim=p)
    first, second = model.heads[0], model.heads[2]
    assert first.bias is None and second.bias is None
    x = torch.rand(6, 1, 16, 16)
    codes, projections = model(x)
    assert projections.shape == (6, p)
    expected = torch.zeros(6, p)
    for j in range(k):
        hidden = F.relu(F.linear(codes.coords[:, j], first.weight[j].T))
        expected += codes.q[:, j : j + 1] * F.linear(hidden, second.weight[j].T)
    torch.testing.assert_close(projections, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(model.project(x), expected, atol=1e-6, rtol=1e-5)


def test_msimclr_one_chart_is_a_single_head() -> None:
    model = build_msimclr("small", 1, 16, charts=1, dim=3, seed=0)
    codes = model.encode(torch.rand(5, 1, 16, 16))
    assert torch.equal(codes.q, torch.ones(5, 1))
    coords = codes.coords[:, 0]
    head = torch.nn.Sequential(
        torch.nn.Linear(3, 3, bias=False), torch.nn.ReLU(), torch.nn.Linear(3, 64, bias=False)
    )
    with torch.no_grad():
        head[0].weight.copy_(model.heads[0].weight[0].T)
        head[2].weight.copy_(model.heads[2].weight[0].T)
    torch.testing.assert_close(model.project_codes(codes), head(coords), atol=1e-6, rtol=1e-5)


# --------------------------------------------------------------------------- NT-Xent usage


def _pml_ntxent(p1: torch.Tensor, p2: torch.Tensor, temperature: float) -> torch.Tensor:
    labels = torch.arange(p1.shape[0]).repeat(2)
    return NTXentLoss(temperature=temperature)(torch.cat([p1, p2]), labels)


def _simclr_ntxent(p1: torch.Tensor, p2: torch.Tensor, temperature: float) -> torch.Tensor:
    """The SimCLR formula: cross-entropy over the 2B − 1 others, positive = the other view."""
    b = p1.shape[0]
    z = F.normalize(torch.cat([p1, p2]), dim=1)
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool), -math.inf)
    positive = torch.cat([torch.arange(b, 2 * b), torch.arange(b)])
    return F.cross_entropy(sim, positive)


def test_ntxent_prefers_matching_views() -> None:
    p1 = torch.eye(8, 16)  # orthogonal one-hots
    shuffled = p1[torch.roll(torch.arange(8), 1)]
    matched, mismatched = _pml_ntxent(p1, p1.clone(), 0.5), _pml_ntxent(p1, shuffled, 0.5)
    assert matched < mismatched
    # the matched value in closed form: positive similarity 1, 2B − 2 = 14 negatives at 0
    expected = -math.log(math.exp(2) / (math.exp(2) + 14))
    assert float(matched) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("temperature", [0.5, 1.0])
def test_pml_ntxent_equals_simclr_formula(temperature: float) -> None:
    g = torch.Generator().manual_seed(0)
    p1, p2 = torch.randn(10, 6, generator=g), torch.randn(10, 6, generator=g)
    ours = _pml_ntxent(p1, p2, temperature)
    reference = _simclr_ntxent(p1, p2, temperature)
    assert abs(float(ours) - float(reference)) < 1e-5


@pytest.mark.parametrize("temperature", [0.5, 1.0])
def test_the_trainers_supcon_loss_is_ntxent_with_its_gradient(temperature: float) -> None:
    """With two views per label SupConLoss is NT-Xent: value and gradient equal the
    library's NTXentLoss and the SimCLR formula (the trainer uses SupConLoss for speed)."""
    g = torch.Generator().manual_seed(1)
    z = torch.randn(2 * 12, 5, generator=g, requires_grad=True)
    labels = torch.arange(12).repeat(2)
    ours = SupConLoss(temperature=temperature)(z, labels)
    library = NTXentLoss(temperature=temperature)(z, labels)
    formula = _simclr_ntxent(z[:12], z[12:], temperature)
    assert float(ours.detach()) == pytest.approx(float(library.detach()), abs=1e-5)
    assert float(ours.detach()) == pytest.approx(float(formula.detach()), abs=1e-5)
    (grad_ours,) = torch.autograd.grad(ours, z)
    (grad_formula,) = torch.autograd.grad(formula, z)
    torch.testing.assert_close(grad_ours, grad_formula, atol=1e-6, rtol=1e-4)


# --------------------------------------------------------------------------- training


def _model(kind: str, seed: int = 0) -> SimCLRModel | MSimCLRModel:
    if kind == "simclr":
        return build_simclr("small", 1, 16, dim=4, seed=seed, proj_dim=8)
    return build_msimclr("small", 1, 16, charts=3, dim=2, seed=seed, proj_dim=8)


class _Interrupted(RuntimeError):
    pass


@pytest.mark.parametrize("kind", ["simclr", "msimclr"])
def test_train_contrastive_resume_is_exact(tmp_path, monkeypatch, kind: str) -> None:
    images, _ = _shapes(64)  # 4 batches of 16 per epoch, 2 augmentations per batch
    transform = simclr_augment(16, 1)
    config = ContrastiveConfig(epochs=2, batch_size=16, lr=1e-3, seed=3)

    reference = _model(kind)
    history_a = train_contrastive(
        reference, images, transform, config, checkpoint=tmp_path / "a.pt", progress=False
    )
    assert len(history_a) == 2
    keys = {"epoch", "loss", "ntxent", "seconds"} | (
        {"mmd", "spread"} if kind == "msimclr" else set()
    )
    for entry in history_a:
        assert set(entry) == keys
        assert all(math.isfinite(value) for value in entry.values())
    assert not reference.training

    original = contrastive.augment_batch
    calls = 0

    def failing(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 11:  # first view of the second step of epoch 2
            raise _Interrupted
        return original(*args, **kwargs)

    checkpoint = tmp_path / "b.pt"
    monkeypatch.setattr(contrastive, "augment_batch", failing)
    with pytest.raises(_Interrupted):
        train_contrastive(
            _model(kind), images, transform, config, checkpoint=checkpoint, progress=False
        )
    monkeypatch.setattr(contrastive, "augment_batch", original)
    assert checkpoint.is_file()

    torch.manual_seed(123)  # the global RNG plays no part
    resumed = _model(kind)
    history_b = train_contrastive(
        resumed, images, transform, config, checkpoint=checkpoint, progress=False
    )
    state_a, state_b = reference.state_dict(), resumed.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
    for key in keys - {"seconds"}:
        assert [h[key] for h in history_a] == [h[key] for h in history_b], key


def test_train_contrastive_extends_a_finished_run_exactly(tmp_path) -> None:
    """epochs is not part of a run's identity: asking a finished checkpoint for more epochs
    resumes it and ends with the weights of a run asked for that many from the start; asking
    for fewer loads it as it is."""
    images, _ = _shapes(32)
    transform = simclr_augment(16, 1)
    config = {"batch_size": 8, "lr": 1e-3, "seed": 5, "steps_per_epoch": 2}
    once = _model("msimclr")
    train_contrastive(
        once, images, transform, ContrastiveConfig(epochs=3, **config), progress=False
    )
    path = tmp_path / "e.pt"
    first = train_contrastive(
        _model("msimclr"), images, transform, ContrastiveConfig(epochs=1, **config),
        checkpoint=path, progress=False,
    )  # fmt: skip
    extended = _model("msimclr")
    history = train_contrastive(
        extended, images, transform, ContrastiveConfig(epochs=3, **config),
        checkpoint=path, progress=False,
    )  # fmt: skip
    assert len(first) == 1 and len(history) == 3 and history[0]["loss"] == first[0]["loss"]
    for name, value in once.state_dict().items():
        assert torch.equal(value, extended.state_dict()[name]), name
    loaded = _model("msimclr")
    again = train_contrastive(
        loaded, images, transform, ContrastiveConfig(epochs=2, **config),
        checkpoint=path, progress=False,
    )  # fmt: skip
    assert again == history
    for name, value in once.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name


def test_train_contrastive_refuses_checkpoint_of_another_run(tmp_path) -> None:
    images, _ = _shapes(32)
    config = ContrastiveConfig(epochs=1, batch_size=16, steps_per_epoch=1)
    checkpoint = tmp_path / "c.pt"
    train_contrastive(
        _model("simclr"),
        images,
        simclr_augment(16, 1),
        config,
        checkpoint=checkpoint,
        progress=False,
    )
    with pytest.raises(ValueError, match="config"):  # another augmentation
        train_contrastive(
            _model("simclr"),
            images,
            simclr_augment(12, 1),
            config,
            checkpoint=checkpoint,
            progress=False,
        )
    with pytest.raises(ValueError, match="config"):  # another model
        train_contrastive(
            _model("msimclr"),
            images,
            simclr_augment(16, 1),
            config,
            checkpoint=checkpoint,
            progress=False,
        )


# --------------------------------------------------------------------------- evaluation


def test_features_shapes_and_consistency() -> None:
    images, _ = _shapes(10)
    simclr = _model("simclr")
    out = features(simclr, images, batch_size=4)
    assert set(out) == {"embedding"}
    torch.testing.assert_close(out["embedding"], simclr.embed(images).detach())

    msimclr = _model("msimclr")
    msimclr.train()
    out = features(msimclr, images, batch_size=3)
    assert msimclr.training  # mode restored
    codes: AtlasCodes = msimclr.encode(images)
    assert set(out) == {"chart", "coords", "q"}
    assert out["chart"].shape == (10,) and out["coords"].shape == (10, 2)
    assert torch.equal(out["chart"], codes.chart)
    torch.testing.assert_close(out["q"], codes.q.detach())
    torch.testing.assert_close(out["coords"], codes.coords[torch.arange(10), codes.chart].detach())


def _blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
    return centres[y] + rng.normal(size=(n, 3)), y


def test_linear_probe_on_separable_features() -> None:
    x_train, y_train = _blobs(300, 0)
    x_test, y_test = _blobs(200, 1)
    assert linear_probe(x_train, y_train, x_test, y_test, seed=0) >= 0.95
    accuracy = linear_probe(
        torch.tensor(x_train), torch.tensor(y_train), torch.tensor(x_test), torch.tensor(y_test)
    )
    assert accuracy >= 0.95


def test_knn_probe_matches_a_brute_force_vote() -> None:
    rng = np.random.default_rng(3)
    x_train, y_train = rng.normal(size=(120, 3)), rng.integers(0, 4, 120)
    x_test, y_test = rng.normal(size=(50, 3)), rng.integers(0, 4, 50)
    for k in (1, 5, 20):
        nearest = np.argsort(cdist(x_test, x_train), axis=1)[:, :k]
        votes = np.array([np.bincount(y_train[row], minlength=4) for row in nearest])
        expected = np.mean(votes.argmax(axis=1) == y_test)  # ties: the smallest class
        assert knn_probe(x_train, y_train, x_test, y_test, neighbours=k) == pytest.approx(expected)
    # the linear probe standardises: the scale of a feature (the chart one-hot's) is lost on it
    scaled = x_train * [1.0, 1.0, 100.0], x_test * [1.0, 1.0, 100.0]
    assert linear_probe(*scaled[:1], y_train, scaled[1], y_test) == pytest.approx(
        linear_probe(x_train, y_train, x_test, y_test)
    )


def test_representation_keeps_charts_apart() -> None:
    images, _ = _shapes(12)
    simclr = _model("simclr")
    feats = features(simclr, images)
    assert torch.equal(representation(simclr, feats), feats["embedding"])
    model = _model("msimclr")  # k = 3 charts, d = 2
    feats = {
        "chart": torch.tensor([0, 0, 1, 2]),
        "coords": torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.5, 0.5]]),
    }
    rep = representation(model, feats)
    assert rep.shape == (4, 3 + 2)
    torch.testing.assert_close(rep[:, 3:], feats["coords"])
    torch.testing.assert_close(rep[:, :3].argmax(dim=1), feats["chart"])
    distances = torch.cdist(rep, rep)
    # the two farthest points of chart 0 (a diagonal of [0,1]^2) are closer than any two
    # points of different charts, even two at the same coordinates
    assert distances[0, 1] == pytest.approx(math.sqrt(2))
    assert distances[0, 1] < min(distances[0, 2], distances[0, 3], distances[2, 3])


def _charted(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three charts; in chart j the class is j or j + 3, split by the first coordinate."""
    rng = np.random.default_rng(seed)
    chart = rng.integers(0, 3, n)
    coords = rng.uniform(0, 1, (n, 2))
    y = chart + 3 * (coords[:, 0] > 0.5)
    coords[:, 0] += np.where(coords[:, 0] > 0.5, 0.1, -0.1)  # a margin around 0.5
    return chart, coords, y


def test_chart_probe_on_separable_charts() -> None:
    train, test = _charted(600, 0), _charted(300, 1)
    out = chart_probe(*train, *test, seed=0)
    assert out["accuracy"] >= 0.95
    assert out["train_counts"] == np.bincount(train[0], minlength=3).tolist()
    assert out["test_counts"] == np.bincount(test[0], minlength=3).tolist()
    assert sum(out["test_counts"]) == 300


def test_chart_probe_single_class_and_empty_charts() -> None:
    # chart 0: two classes (0, 1); chart 1: only class 2; chart 2: no training points.
    train_chart = np.array([0, 0, 0, 0, 1, 1, 1])
    train_coords = np.array([[0.1, 0], [0.2, 0], [0.8, 0], [0.9, 0], [0.5, 0], [0.6, 0], [0.4, 0]])
    train_y = np.array([0, 0, 1, 1, 2, 2, 2])  # majority class 2
    test_coords = np.array([[0.5, 0.5], [0.0, 1.0]])
    for test_chart, test_y, accuracy in [
        ([1, 1], [2, 2], 1.0),  # a single-class chart predicts its class
        ([1, 1], [0, 1], 0.0),
        ([2, 2], [2, 2], 1.0),  # an empty chart predicts the overall majority
        ([2, 2], [0, 1], 0.0),
    ]:
        out = chart_probe(
            train_chart,
            train_coords,
            train_y,
            np.array(test_chart),
            test_coords,
            np.array(test_y),
            seed=0,
            charts=3,
        )
        assert out["accuracy"] == accuracy
        assert out["train_counts"] == [4, 3, 0]
    out = chart_probe(
        train_chart,
        train_coords,
        train_y,
        np.array([0, 0]),
        test_coords,
        np.array([0, 0]),
        charts=5,
    )
    assert out["train_counts"] == [4, 3, 0, 0, 0] and out["test_counts"] == [2, 0, 0, 0, 0]


def test_probes_reject_bad_input() -> None:
    x, y = _blobs(20, 0)
    with pytest.raises(ValueError, match="same length"):
        linear_probe(x, y[:-1], x, y)
    with pytest.raises(ValueError, match="train_feats"):
        linear_probe(x[:, 0], y, x, y)
    with pytest.raises(ValueError, match="dimensions"):
        linear_probe(x, y, x[:, :2], y)
    chart, coords, labels = _charted(20, 0)
    with pytest.raises(ValueError, match="train_chart"):
        chart_probe(chart, coords, labels, chart, coords, labels, charts=2)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: build_simclr("small", 1, 16, dim=0, seed=0), "dim"),
        (lambda: build_msimclr("small", 1, 16, charts=2, dim=0, seed=0), "dim"),
        (lambda: build_msimclr("small", 1, 16, charts=0, dim=2, seed=0), "charts"),
        (lambda: build_simclr("vgg", 1, 16, dim=2, seed=0), "backbone_name"),
        (lambda: build_simclr("small", 1, 4, dim=2, seed=0), "image_size"),
        (lambda: build_simclr("small", 0, 16, dim=2, seed=0), "in_channels"),
        (lambda: build_simclr("small", 1, 16, dim=2, seed=0, proj_dim=0), "proj_dim"),
        (lambda: SimCLRModel(torch.nn.Identity(), dim=2), "backbone"),
        (lambda: SmallConvNet(1, width=12), "width"),
        (lambda: ContrastiveConfig(epochs=1, temperature=0.0), "temperature"),
        (lambda: ContrastiveConfig(epochs=1, batch_size=1), "batch_size"),
        (lambda: ContrastiveConfig(epochs=0), "epochs"),
        (lambda: ContrastiveConfig(epochs=1, lr=0.0), "lr"),
        (lambda: ContrastiveConfig(epochs=1, mmd_weight=-1.0), "mmd_weight"),
        (lambda: ContrastiveConfig(epochs=1, membership_weight=-0.1), "membership_weight"),
        (lambda: ContrastiveConfig(epochs=1, weight_decay=-1.0), "weight_decay"),
        (lambda: ContrastiveConfig(epochs=1, steps_per_epoch=0), "steps_per_epoch"),
        (lambda: simclr_augment(16, 2), "channels"),
        (lambda: augment_batch(torch.rand(1, 8, 8), simclr_augment(8, 1), torch.Generator()), "x"),
    ],
)
def test_bad_input_names_the_argument(build, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        build()


def test_train_contrastive_rejects_bad_images() -> None:
    config = ContrastiveConfig(epochs=1, batch_size=4)
    with pytest.raises(ValueError, match="images"):
        train_contrastive(_model("simclr"), torch.rand(8, 16, 16), simclr_augment(16, 1), config)
    with pytest.raises(ValueError, match="images"):
        features(_model("simclr"), torch.rand(8, 16, 16))


_META = torch.device("meta")  # a second device on any machine: tensors without data
_IMAGES = torch.rand(4, 1, 16, 16)
_AUGMENT = simclr_augment(8, 1)
_X, _Y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
_CHART = np.arange(20) % 3


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        # augmentation
        (lambda: simclr_augment(16.0, 1), TypeError, r"^image_size must be an int"),
        (lambda: simclr_augment(0, 1), ValueError, r"^image_size must be an int >= 1"),
        (lambda: simclr_augment(16, 1.0), TypeError, r"^channels must be an int"),
        (lambda: augment_batch(_IMAGES.long(), _AUGMENT, torch.Generator()), TypeError,
         r"^x must be floating images"),
        (lambda: augment_batch(_IMAGES + 1, _AUGMENT, torch.Generator()), ValueError,
         r"^x must be finite and in \[0, 1\]"),
        (lambda: augment_batch(_IMAGES * math.nan, _AUGMENT, torch.Generator()), ValueError,
         r"^x must be finite and in \[0, 1\]"),
        (lambda: augment_batch(_IMAGES[:0], _AUGMENT, torch.Generator()), ValueError,
         r"^x needs at least 1 rows"),
        (lambda: augment_batch(_IMAGES, None, torch.Generator()), TypeError,
         r"^transform must be callable"),
        (lambda: augment_batch(_IMAGES, _AUGMENT, 0), TypeError,
         r"^generator must be a torch.Generator"),
        # backbones and models
        (lambda: SmallConvNet(1.0), TypeError, r"^in_channels must be an int"),
        (lambda: SmallConvNet(1, width=16.0), TypeError, r"^width must be an int"),
        (lambda: SmallConvNet(1, width=4), ValueError, r"^width must be an int >= 8"),
        (lambda: SmallConvNet(1)(_IMAGES.long()), TypeError, r"^x must be a floating-point"),
        (lambda: SmallConvNet(1)(_IMAGES.to(_META)), ValueError,
         r"^x is on meta but the model is on cpu"),
        (lambda: resnet18_cifar(0), ValueError, r"^in_channels must be an int >= 1"),
        (lambda: SimCLRModel("net", 2), TypeError, r"^backbone must be an nn.Module"),
        (lambda: SimCLRModel(SmallConvNet(1), dim=2.0), TypeError, r"^dim must be an int"),
        (lambda: SimCLRModel(SmallConvNet(1), dim=2, hidden=0), ValueError,
         r"^hidden must be an int >= 1"),
        (lambda: SimCLRModel(SmallConvNet(1), dim=2).embed(_IMAGES[0]), ValueError,
         r"^x must have 4 dimensions"),
        (lambda: MSimCLRModel(SmallConvNet(1), charts=0, dim=2), ValueError,
         r"^charts must be an int >= 1"),
        (lambda: MSimCLRModel(SmallConvNet(1), charts=2, dim=2, proj_dim=True), TypeError,
         r"^proj_dim must be an int"),
        (lambda: _model("msimclr").project_codes((torch.rand(2, 3), torch.rand(2, 3, 2))),
         TypeError, r"^codes must be AtlasCodes"),
        (lambda: _model("msimclr").project_codes(AtlasCodes(torch.rand(2, 2), torch.rand(2, 2, 2))),
         ValueError, r"^codes.q must have shape \(B, 3\)"),
        (lambda: build_simclr("small", 1, 16, dim=2, seed=-1), ValueError, r"^seed must be"),
        (lambda: build_simclr("small", 1, 16, dim=2, seed=0.5), TypeError, r"^seed must be an int"),
        (lambda: build_simclr("small", 1, 16.0, dim=2, seed=0), TypeError, r"^image_size must be"),
        (lambda: build_simclr("small", 1, 16, dim=2, seed=0, hidden=0), ValueError, r"^hidden"),
        (lambda: build_msimclr("small", 1, 16, charts=1.0, dim=2, seed=0), TypeError, r"^charts"),
        # the config
        (lambda: ContrastiveConfig(epochs=1.0), TypeError, r"^epochs must be an int"),
        (lambda: ContrastiveConfig(epochs=1, batch_size=True), TypeError, r"^batch_size must be"),
        (lambda: ContrastiveConfig(epochs=1, lr=math.inf), ValueError, r"^lr must be finite"),
        (lambda: ContrastiveConfig(epochs=1, temperature=math.nan), ValueError,
         r"^temperature must be finite"),
        (lambda: ContrastiveConfig(epochs=1, weight_decay="0"), TypeError,
         r"^weight_decay must be a number"),
        (lambda: ContrastiveConfig(epochs=1, seed=-1), ValueError, r"^seed must be an int >= 0"),
        (lambda: ContrastiveConfig(epochs=1, steps_per_epoch=1.5), TypeError,
         r"^steps_per_epoch must be an int"),
        # evaluation
        (lambda: features(torch.nn.Linear(2, 2), _IMAGES), TypeError,
         r"^model must be a SimCLRModel or MSimCLRModel"),
        (lambda: features(_model("simclr"), _IMAGES * math.nan), ValueError,
         r"^images must be finite and in \[0, 1\]"),
        (lambda: features(_model("simclr"), _IMAGES[:0]), ValueError, r"^images needs at least 1"),
        (lambda: features(_model("simclr"), _IMAGES, batch_size=0), ValueError, r"^batch_size"),
        (lambda: features(_model("simclr"), _IMAGES, batch_size=2.0), TypeError, r"^batch_size"),
        (lambda: linear_probe(_X.tolist(), _Y, _X, _Y), TypeError,
         r"^train_feats must be a Tensor or ndarray"),
        (lambda: linear_probe(_X * math.nan, _Y, _X, _Y), ValueError,
         r"^train_feats contains NaN or inf"),
        (lambda: linear_probe(_X, _Y, _X[:0], _Y[:0]), ValueError, r"^test_feats needs at least 1"),
        (lambda: linear_probe(_X, _Y * 1.0, _X, _Y), TypeError, r"^train_y must hold integers"),
        (lambda: linear_probe(_X, _Y, _X, _Y, seed=-1), ValueError, r"^seed must be an int in"),
        (lambda: linear_probe(_X, _Y, _X, _Y, seed=2**32), ValueError, r"^seed must be an int in"),
        (lambda: chart_probe(_CHART * 1.0, _X, _Y, _CHART, _X, _Y), TypeError,
         r"^train_chart must hold integers"),
        (lambda: chart_probe(_CHART, _X, _Y, _CHART, _X + math.inf, _Y), ValueError,
         r"^test_coords contains NaN or inf"),
        (lambda: chart_probe(_CHART, _X, _Y, _CHART, _X, _Y, charts=0), ValueError,
         r"^charts must be an int >= 1"),
        (lambda: chart_probe(_CHART, _X, _Y, _CHART, _X, _Y, charts=3.0), TypeError,
         r"^charts must be an int"),
        (lambda: knn_probe(_X, _Y, _X, _Y, neighbours=0), ValueError, r"^neighbours must be"),
        (lambda: knn_probe(_X, _Y, _X, _Y, neighbours=len(_X) + 1), ValueError,
         r"^neighbours must be"),
        (lambda: knn_probe(_X, _Y[:-1], _X, _Y), ValueError, r"^these must have the same length"),
        (lambda: knn_probe(_X, _Y, _X[:, :1], _Y), ValueError, r"^train_feats and test_feats"),
        (lambda: representation(torch.nn.Linear(2, 2), {}), TypeError, r"^model must be a"),
        (lambda: representation(_model("simclr"), {}), TypeError, r"^feats\['embedding'\]"),
        (lambda: representation(_model("msimclr"), {"chart": torch.zeros(3, dtype=torch.long)}),
         TypeError, r"^feats\['coords'\]"),
    ],
)  # fmt: skip
def test_every_argument_is_checked(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"model": torch.nn.Linear(2, 2)}, TypeError, r"^model must be a SimCLRModel"),
        ({"images": _IMAGES + 1}, ValueError, r"^images must be finite and in \[0, 1\]"),
        ({"images": _IMAGES.to(_META)}, ValueError, r"^images is on meta but the model is on cpu"),
        ({"images": _IMAGES.long()}, TypeError, r"^images must be floating images"),
        ({"transform": "crop"}, TypeError, r"^transform must be callable"),
        ({"config": {"epochs": 1}}, TypeError, r"^config must be a ContrastiveConfig"),
        ({"checkpoint": 1}, TypeError, r"^checkpoint must be a path or None"),
        ({"progress": None}, TypeError, r"^progress must be a bool"),
    ],
)
def test_train_contrastive_checks_every_argument(change: dict, error: type, match: str) -> None:
    arguments = {"model": _model("simclr"), "images": _IMAGES, "transform": _AUGMENT}
    arguments |= {"config": ContrastiveConfig(epochs=1, batch_size=2), "progress": False}
    with pytest.raises(error, match=match):
        train_contrastive(**(arguments | change))
