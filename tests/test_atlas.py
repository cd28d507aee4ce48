"""Atlas representations: layers, autoencoder, regularisers, chart distance, trainer."""

import math

import pytest
import torch
from torch.nn import functional as F

import toposhape.atlas as atlas
from toposhape.atlas import (
    AtlasAutoencoder,
    AtlasCodes,
    AtlasConfig,
    AtlasHead,
    ChartwiseLinear,
    LatentDiscriminator,
    atlas_reconstruction,
    chart_distance,
    discriminator_loss,
    encoder_gan_loss,
    membership_spread,
    mmd_to_uniform,
    train_atlas,
)


def _random_codes(b: int, k: int, d: int, seed: int, scale: float = 2.0) -> AtlasCodes:
    g = torch.Generator().manual_seed(seed)
    q = torch.softmax(torch.randn(b, k, generator=g), dim=1)
    return AtlasCodes(q, scale * torch.randn(b, k, d, generator=g))


def _one_hot_codes(charts: list[int], k: int, d: int, seed: int) -> AtlasCodes:
    g = torch.Generator().manual_seed(seed)
    q = F.one_hot(torch.tensor(charts), k).float()
    return AtlasCodes(q, torch.randn(len(charts), k, d, generator=g))


# --------------------------------------------------------------------------- layers


@pytest.mark.parametrize("bias", [True, False])
def test_chartwise_linear_is_k_separate_linear_maps(bias: bool) -> None:
    torch.manual_seed(0)
    k, n_in, n_out = 4, 5, 3
    layer = ChartwiseLinear(k, n_in, n_out, bias=bias)
    assert layer.weight.shape == (k, n_in, n_out)
    assert (layer.bias is None) == (not bias)
    x = torch.randn(7, k, n_in)
    out = layer(x)
    assert out.shape == (7, k, n_out)
    for j in range(k):
        b = layer.bias[j] if bias else None
        expected = F.linear(x[:, j], layer.weight[j].T, b)
        torch.testing.assert_close(out[:, j], expected, atol=1e-6, rtol=1e-5)


def test_atlas_head_codes() -> None:
    torch.manual_seed(0)
    head = AtlasHead(6, charts=3, dim=2)
    codes = head(torch.randn(5, 6) * 10)
    assert codes.q.shape == (5, 3)
    assert codes.logits.shape == (5, 3, 2)
    assert codes.coords.shape == (5, 3, 2)
    torch.testing.assert_close(codes.q.sum(dim=1), torch.ones(5))
    assert (codes.q >= 0).all()
    assert ((codes.coords > 0) & (codes.coords < 1)).all()
    assert torch.equal(codes.chart, codes.q.argmax(dim=1))
    assert codes.chart.shape == (5,)


@pytest.mark.parametrize("input_shape", [(3,), (1, 28, 28), (3, 32, 32)])
def test_autoencoder_shapes_and_ranges(input_shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    k, d = 3, 2
    model = AtlasAutoencoder(input_shape, charts=k, dim=d, hidden=16)
    assert (model.charts, model.dim, model.input_shape) == (k, d, input_shape)
    x = torch.rand(4, *input_shape)
    codes, reconstructions = model(x)
    assert codes.q.shape == (4, k)
    assert codes.logits.shape == (4, k, d)
    assert reconstructions.shape == (4, k, *input_shape)
    torch.testing.assert_close(codes.q.sum(dim=1), torch.ones(4))
    assert ((codes.coords > 0) & (codes.coords < 1)).all()
    if len(input_shape) == 3:
        assert ((reconstructions >= 0) & (reconstructions <= 1)).all()
    # the reconstructions are the decoding of the encoder's coordinates
    torch.testing.assert_close(reconstructions, model.decode(codes.coords))


@pytest.mark.parametrize("size", [10, 30])
def test_conv_encoder_accepts_every_square_size_it_admits(size: int) -> None:
    # The constructor admits any square image of side >= 8; the forward pass must run.
    torch.manual_seed(0)
    model = AtlasAutoencoder((1, size, size), charts=2, dim=2, hidden=8)
    codes, reconstructions = model(torch.rand(3, 1, size, size))
    assert codes.logits.shape == (3, 2, 2)
    assert reconstructions.shape == (3, 2, 1, size, size)


def test_encode_rejects_wrong_input_shape() -> None:
    model = AtlasAutoencoder((3,), charts=2, dim=1, hidden=8)
    with pytest.raises(ValueError, match="x"):
        model.encode(torch.rand(4, 2))
    image_model = AtlasAutoencoder((1, 28, 28), charts=2, dim=1, hidden=8)
    with pytest.raises(ValueError, match="x"):
        image_model.encode(torch.rand(4, 28, 28))


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"charts": 0}, ValueError, "charts"),
        ({"dim": 0}, ValueError, "dim"),
        ({"in_features": 0}, ValueError, "in_features"),
        ({"charts": True}, TypeError, "charts"),
        ({"dim": 2.0}, TypeError, "dim"),
        ({"in_features": "4"}, TypeError, "in_features"),
    ],
)
def test_bad_head_arguments(kwargs: dict, error: type, name: str) -> None:
    with pytest.raises(error, match=rf"^{name} must be"):
        AtlasHead(**{"in_features": 4, "charts": 2, "dim": 1, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"charts": 0}, ValueError, "^charts must be"),
        ({"dim": 0}, ValueError, "^dim must be"),
        ({"charts": True}, TypeError, "^charts must be an int"),
        ({"hidden": 0}, ValueError, "^hidden must be"),
        ({"hidden": 8.0}, TypeError, "^hidden must be an int"),
        ({"input_shape": (1, 28, 30)}, ValueError, "square"),
        ({"input_shape": (1, 4, 4)}, ValueError, "8"),
        ({"input_shape": (28, 28)}, ValueError, "^input_shape must be"),
        ({"input_shape": (0,)}, ValueError, "input_shape must be an int >= 1"),
        ({"input_shape": (3.0,)}, TypeError, "input_shape must be an int"),
        ({"input_shape": 3}, TypeError, "^input_shape must be a tuple"),
    ],
)
def test_bad_autoencoder_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        AtlasAutoencoder(**{"input_shape": (3,), "charts": 2, "dim": 1, "hidden": 8, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"regulariser": "vae"}, ValueError, "regulariser"),
        ({"lam": -1.0}, ValueError, "lam"),
        ({"lam": math.inf}, ValueError, "lam"),
        ({"lam": "1"}, TypeError, "lam"),
        ({"membership": -0.1}, ValueError, "membership"),
        ({"membership": math.nan}, ValueError, "membership"),
        ({"lr": 0.0}, ValueError, "lr"),
        ({"lr": math.inf}, ValueError, "lr"),
        ({"disc_lr": -1e-3}, ValueError, "disc_lr"),
        ({"batch_size": 1}, ValueError, "batch_size"),
        ({"batch_size": 100.0}, TypeError, "batch_size"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": True}, TypeError, "epochs"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 0.5}, TypeError, "seed"),
        ({"steps_per_epoch": 0}, ValueError, "steps_per_epoch"),
        ({"steps_per_epoch": 2.0}, TypeError, "steps_per_epoch"),
    ],
)
def test_bad_config(kwargs: dict, error: type, name: str) -> None:
    with pytest.raises(error, match=rf"^{name} must be"):
        AtlasConfig(**kwargs)


# ---------------------------------------------------------------------- chart distance


def _brute_chart_distance(q_a, coords_a, q_b, coords_b, variant: str) -> torch.Tensor:
    n, k, d = coords_a.shape
    m = coords_b.shape[0]
    out = torch.empty(n, m, dtype=torch.float64)
    for x in range(n):
        for y in range(m):
            num = den = 0.0
            for j in range(k):
                w = float(q_a[x, j]) * float(q_b[y, j])
                sq = sum(
                    (float(coords_a[x, j, i]) - float(coords_b[y, j, i])) ** 2 for i in range(d)
                )
                num += w * (math.sqrt(sq) if variant == "blog" else sq / d)
                den += w
            if den == 0.0:
                out[x, y] = math.inf if variant == "blog" else 1.0
            else:
                out[x, y] = num / den
    return out


@pytest.mark.parametrize("variant", ["blog", "code"])
def test_chart_distance_matches_brute_force(variant: str) -> None:
    a = _random_codes(5, 3, 2, seed=1)
    b = _random_codes(6, 3, 2, seed=2)
    got = chart_distance(a.q, a.coords, b.q, b.coords, variant=variant)
    assert got.shape == (5, 6)
    expected = _brute_chart_distance(a.q, a.coords, b.q, b.coords, variant)
    torch.testing.assert_close(got.double(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", ["blog", "code"])
def test_chart_distance_symmetric_with_zero_diagonal(variant: str) -> None:
    a = _random_codes(8, 4, 3, seed=3)
    dist = chart_distance(a.q, a.coords, a.q, a.coords, variant=variant)
    torch.testing.assert_close(dist, dist.T)
    assert dist.diagonal().abs().max() <= 1e-6
    assert (dist >= 0).all()


def test_chart_distance_self_distance_is_zero_at_batch_size() -> None:
    # A batch of 64 samples (cdist switches to its matrix-product formula past 25 rows):
    # the distance of a sample to itself must still be 0, and small distances accurate.
    a = _random_codes(64, 3, 2, seed=4)
    dist = chart_distance(a.q, a.coords, a.q, a.coords, variant="blog")
    assert dist.diagonal().abs().max() <= 1e-5
    expected = _brute_chart_distance(a.q[:30], a.coords[:30], a.q[:30], a.coords[:30], "blog")
    torch.testing.assert_close(dist[:30, :30].double(), expected, atol=1e-5, rtol=1e-5)


def test_chart_distance_without_shared_chart() -> None:
    coords_a = torch.tensor([[[0.1, 0.2], [0.3, 0.4]], [[0.5, 0.5], [0.9, 0.1]]])
    coords_b = torch.tensor([[[0.7, 0.6], [0.2, 0.8]]])
    q_a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    q_b = torch.tensor([[1.0, 0.0]])
    blog = chart_distance(q_a, coords_a, q_b, coords_b, variant="blog")
    code = chart_distance(q_a, coords_a, q_b, coords_b, variant="code")
    # sample 0 shares chart 0 with y: plain distance in chart 0
    assert blog[0, 0].item() == pytest.approx(math.hypot(0.6, 0.4), abs=1e-6)
    assert code[0, 0].item() == pytest.approx((0.6**2 + 0.4**2) / 2, abs=1e-6)
    # sample 1 sits in chart 1 only: no shared chart
    assert blog[1, 0].item() == math.inf
    assert code[1, 0].item() == 1.0


def test_chart_distance_errors() -> None:
    a = _random_codes(3, 2, 2, seed=0)
    b = _random_codes(4, 2, 2, seed=1)
    with pytest.raises(ValueError, match="variant"):
        chart_distance(a.q, a.coords, b.q, b.coords, variant="euclid")
    with pytest.raises(ValueError, match="q_a"):
        chart_distance(a.q, a.coords[:, :1], b.q, b.coords)
    with pytest.raises(ValueError, match="q_a"):
        chart_distance(a.q[0], a.coords, b.q, b.coords)
    with pytest.raises(ValueError, match="q_b"):
        chart_distance(a.q, a.coords, b.q[:2], b.coords)
    c = _random_codes(4, 3, 2, seed=2)
    with pytest.raises(ValueError, match="charts"):
        chart_distance(a.q, a.coords, c.q, c.coords)
    e = _random_codes(4, 2, 3, seed=2)
    with pytest.raises(ValueError, match="dims"):
        chart_distance(a.q, a.coords, e.q, e.coords)


# --------------------------------------------------------------------------- spread


@pytest.mark.parametrize("k", [1, 2, 5])
def test_membership_spread_extremes(k: int) -> None:
    assert membership_spread(torch.full((6, k), 1.0 / k)).item() == pytest.approx(0.0, abs=1e-7)
    onehot = F.one_hot(torch.arange(6) % k, k).float()
    assert membership_spread(onehot).item() == pytest.approx(1 - 1 / k, abs=1e-6)
    mixed = torch.softmax(torch.randn(6, k, generator=torch.Generator().manual_seed(0)), 1)
    assert 0 <= membership_spread(mixed).item() <= 1 - 1 / k + 1e-6


# ------------------------------------------------------------------------------ MMD


def _mmd_oracle(codes: AtlasCodes, seed: int, m: int) -> float:
    """The unbiased squared MMD between two weighted point sets, by explicit loops.

    Encoded set: every sample x is the point (j, clamp(logit_j(x))) with mass q_j(x)/B.
    Prior set: m draws per chart c, the point (c, logit(u)) with mass 1/(k m).
    Kernel: C / (C + ||a - b||²) with C = d/6 inside a chart, 0 across charts.
    """
    q = codes.q.double().tolist()
    z = codes.logits.double().clamp(-10, 10).tolist()
    b, k, d = codes.logits.shape
    g = torch.Generator().manual_seed(seed)
    prior = torch.logit(torch.rand(k, m, d, generator=g).clamp(1e-6, 1 - 1e-6)).double().tolist()
    c = d / 6

    def kernel(u, v) -> float:
        return c / (c + sum((ui - vi) ** 2 for ui, vi in zip(u, v, strict=True)))

    enc = pri = cross = 0.0
    for j in range(k):
        for x in range(b):
            for y in range(b):
                if x != y:
                    enc += q[x][j] * q[y][j] * kernel(z[x][j], z[y][j])
        for i in range(m):
            for i2 in range(m):
                if i != i2:
                    pri += kernel(prior[j][i], prior[j][i2]) / k**2
        for x in range(b):
            for i in range(m):
                cross += q[x][j] / k * kernel(z[x][j], prior[j][i])
    return enc / (b * (b - 1)) + pri / (m * (m - 1)) - 2 * cross / (b * m)


@pytest.mark.parametrize("prior_samples", [None, 3, 6])
def test_mmd_matches_loop_oracle(prior_samples: int | None) -> None:
    codes = _random_codes(4, 2, 2, seed=5, scale=4.0)
    codes.logits[0, 1, 0] = 12.0  # beyond the clamp
    codes.logits[2, 0, 1] = -15.0
    got = mmd_to_uniform(codes, torch.Generator().manual_seed(7), prior_samples=prior_samples)
    expected = _mmd_oracle(codes, seed=7, m=4 if prior_samples is None else prior_samples)
    assert got.item() == pytest.approx(expected, abs=1e-5)


def test_mmd_accepts_double_precision_codes() -> None:
    codes = _random_codes(6, 3, 2, seed=6)
    single = mmd_to_uniform(codes, torch.Generator().manual_seed(1))
    double = mmd_to_uniform(
        AtlasCodes(codes.q.double(), codes.logits.double()), torch.Generator().manual_seed(1)
    )
    assert double.item() == pytest.approx(single.item(), abs=1e-5)


def test_mmd_small_for_prior_distributed_codes() -> None:
    b, k, d = 256, 3, 2
    uniform, point, one_chart = [], [], []
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        u = torch.rand(b, d, generator=g)
        chart = torch.randint(k, (b,), generator=g)
        logits = torch.randn(b, k, d, generator=g)  # other charts carry no mass
        logits[torch.arange(b), chart] = torch.logit(u)
        q = F.one_hot(chart, k).float()
        uniform.append(
            mmd_to_uniform(AtlasCodes(q, logits), torch.Generator().manual_seed(50 + seed))
        )
        first = F.one_hot(torch.zeros(b, dtype=torch.long), k).float()
        point.append(
            mmd_to_uniform(
                AtlasCodes(first, torch.zeros(b, k, d)), torch.Generator().manual_seed(50 + seed)
            )
        )
        # uniform coordinates, but all in chart 0: the chart law is wrong
        one_chart.append(
            mmd_to_uniform(AtlasCodes(first, logits), torch.Generator().manual_seed(50 + seed))
        )
    small = torch.stack(uniform).abs().mean()
    assert small * 10 < torch.stack(point).mean()
    assert small * 10 < torch.stack(one_chart).mean()


def test_mmd_needs_two_samples() -> None:
    codes = _random_codes(1, 2, 2, seed=0)
    with pytest.raises(ValueError):
        mmd_to_uniform(codes, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError):
        mmd_to_uniform(_random_codes(4, 2, 2, seed=0), torch.Generator(), prior_samples=1)


# ------------------------------------------------------------------------------ GAN


def _discriminator(k: int, d: int, seed: int = 0) -> LatentDiscriminator:
    torch.manual_seed(seed)
    return LatentDiscriminator(k, d, hidden=8)


def test_gan_losses_of_an_undecided_discriminator() -> None:
    k, d = 3, 2
    disc = _discriminator(k, d)
    with torch.no_grad():
        disc.net[-1].weight.zero_()
        disc.net[-1].bias.zero_()
    codes = _random_codes(10, k, d, seed=1)
    assert encoder_gan_loss(disc, codes).item() == pytest.approx(math.log(2), abs=1e-6)
    loss = discriminator_loss(disc, codes, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(2 * math.log(2), abs=1e-6)


def test_gan_losses_with_one_hot_memberships() -> None:
    k, d = 3, 2
    disc = _discriminator(k, d, seed=2)
    charts = [0, 2, 1, 2, 0]
    codes = _one_hot_codes(charts, k, d, seed=3)
    coords = codes.coords

    def logit(chart: int, z: torch.Tensor) -> float:
        return disc(torch.tensor([chart]), z[None]).item()

    expected = sum(
        -math.log(1 / (1 + math.exp(-logit(c, coords[x, c])))) for x, c in enumerate(charts)
    ) / len(charts)
    assert encoder_gan_loss(disc, codes).item() == pytest.approx(expected, abs=1e-5)

    # discriminator: the prior draws of sample_prior count as real, the codes as fake
    g = torch.Generator().manual_seed(4)
    real_chart = torch.randint(k, (len(charts),), generator=g)
    real_coords = torch.rand(len(charts), d, generator=g)
    real = sum(
        math.log1p(math.exp(-logit(int(c), z)))
        for c, z in zip(real_chart, real_coords, strict=True)
    ) / len(charts)
    fake = sum(math.log1p(math.exp(logit(c, coords[x, c]))) for x, c in enumerate(charts)) / len(
        charts
    )
    loss = discriminator_loss(disc, codes, torch.Generator().manual_seed(4))
    assert loss.item() == pytest.approx(real + fake, abs=1e-5)


def test_discriminator_loss_does_not_train_the_encoder() -> None:
    k, d = 3, 2
    disc = _discriminator(k, d, seed=1)
    g = torch.Generator().manual_seed(0)
    membership = torch.randn(6, k, generator=g).requires_grad_()
    logits = torch.randn(6, k, d, generator=g).requires_grad_()
    codes = AtlasCodes(torch.softmax(membership, dim=1), logits)

    discriminator_loss(disc, codes, torch.Generator().manual_seed(1)).backward()
    assert logits.grad is None and membership.grad is None
    assert all(p.grad is not None for p in disc.parameters())

    disc.zero_grad(set_to_none=True)
    encoder_gan_loss(disc, codes).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert membership.grad is not None and membership.grad.abs().sum() > 0


# -------------------------------------------------------------------------- trainer


def _circle(n: int) -> torch.Tensor:
    t = torch.rand(n, generator=torch.Generator().manual_seed(0)) * 2 * math.pi
    return torch.stack([torch.cos(t), torch.sin(t)], dim=1)


def _model(seed: int = 0, charts: int = 3, hidden: int = 16) -> AtlasAutoencoder:
    torch.manual_seed(seed)
    return AtlasAutoencoder((2,), charts=charts, dim=1, hidden=hidden)


def test_train_atlas_reduces_reconstruction() -> None:
    model = _model(charts=4, hidden=32)
    config = AtlasConfig(regulariser="mmd", epochs=6, batch_size=50, lr=3e-3, seed=1)
    history, disc = train_atlas(model, _circle(400), config, progress=False)
    assert disc is None
    assert len(history) == 6
    assert [h["epoch"] for h in history] == list(range(1, 7))
    for entry in history:
        assert {"reconstruction", "regulariser", "spread", "seconds"} <= entry.keys()
        assert "discriminator" not in entry
    assert history[-1]["reconstruction"] < history[0]["reconstruction"]
    assert not model.training


def test_train_atlas_gan_history_and_discriminator() -> None:
    model = _model()
    config = AtlasConfig(regulariser="gan", epochs=2, batch_size=20, steps_per_epoch=3)
    history, disc = train_atlas(model, _circle(100), config, progress=False)
    assert isinstance(disc, LatentDiscriminator)
    assert len(history) == 2
    for entry in history:
        assert {"reconstruction", "regulariser", "discriminator", "spread", "seconds"} <= set(entry)
        assert all(math.isfinite(entry[key]) for key in entry)


class _Interrupted(RuntimeError):
    pass


@pytest.mark.parametrize("regulariser", ["gan", "mmd"])
def test_train_atlas_resume_is_exact(tmp_path, monkeypatch, regulariser: str) -> None:
    data = _circle(120)  # 6 batches of 20 per epoch
    config = AtlasConfig(regulariser=regulariser, epochs=3, batch_size=20, seed=4)

    reference = _model(seed=3)
    history_a, _ = train_atlas(
        reference, data, config, checkpoint=tmp_path / "a.pt", progress=False
    )

    original = atlas.atlas_reconstruction
    calls = 0

    def failing(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 9:  # third step of epoch 2
            raise _Interrupted
        return original(*args, **kwargs)

    checkpoint = tmp_path / "b.pt"
    monkeypatch.setattr(atlas, "atlas_reconstruction", failing)
    with pytest.raises(_Interrupted):
        train_atlas(_model(seed=3), data, config, checkpoint=checkpoint, progress=False)
    monkeypatch.setattr(atlas, "atlas_reconstruction", original)
    assert checkpoint.is_file()

    resumed = _model(seed=3)
    history_b, _ = train_atlas(resumed, data, config, checkpoint=checkpoint, progress=False)

    state_a, state_b = reference.state_dict(), resumed.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
    assert len(history_b) == 3
    for key in ("reconstruction", "regulariser", "spread"):
        assert [h[key] for h in history_a] == [h[key] for h in history_b]
    if regulariser == "gan":
        assert [h["discriminator"] for h in history_a] == [h["discriminator"] for h in history_b]


@pytest.mark.parametrize("regulariser", ["gan", "mmd"])
def test_train_atlas_does_not_depend_on_global_rng(regulariser: str) -> None:
    # Same initial weights, data and config (config.seed seeds the run): the result must
    # not depend on what the global RNG did before the call.
    data = _circle(60)
    config = AtlasConfig(regulariser=regulariser, epochs=1, batch_size=20, seed=2)
    models = []
    for global_seed in (10, 11):
        model = _model(seed=5)
        torch.manual_seed(global_seed)
        train_atlas(model, data, config, progress=False)
        models.append(model.state_dict())
    for name in models[0]:
        assert torch.equal(models[0][name], models[1][name]), name


def test_train_atlas_refuses_checkpoint_of_another_config(tmp_path) -> None:
    data = _circle(40)
    checkpoint = tmp_path / "ckpt.pt"
    config = AtlasConfig(regulariser="mmd", epochs=1, batch_size=20)
    train_atlas(_model(), data, config, checkpoint=checkpoint, progress=False)
    other = AtlasConfig(regulariser="mmd", epochs=1, batch_size=20, lam=2.0)
    with pytest.raises(ValueError, match="config"):
        train_atlas(_model(), data, other, checkpoint=checkpoint, progress=False)
    with pytest.raises(ValueError, match="config"):  # same settings, another model
        train_atlas(_model(charts=2), data, config, checkpoint=checkpoint, progress=False)


def test_train_atlas_rejects_data_of_another_shape() -> None:
    config = AtlasConfig(regulariser="mmd", epochs=1, batch_size=20)
    with pytest.raises(ValueError, match="data"):
        train_atlas(_model(), torch.rand(40, 3), config, progress=False)
    with pytest.raises(ValueError, match="data"):
        train_atlas(_model(), torch.rand(40), config, progress=False)


# ------------------------------------------------------------------- argument checks


def _q(b: int = 4, k: int = 2) -> torch.Tensor:
    return torch.full((b, k), 1.0 / k)


_NEGATIVE_Q = torch.tensor([[1.5, -0.5], [0.5, 0.5]])
_UNNORMALISED_Q = torch.tensor([[0.5, 0.5], [0.5, 0.7]])
_NAN_Q = torch.tensor([[0.5, 0.5], [math.nan, 0.5]])
_CODES = _random_codes(4, 2, 3, seed=0)
_META = torch.device("meta")  # a second device on any machine: tensors without data


def _codes(q: torch.Tensor | None = None, logits: torch.Tensor | None = None) -> AtlasCodes:
    """_CODES with q or logits replaced (logits cut to the rows of q)."""
    q = _CODES.q if q is None else q
    return AtlasCodes(q, _CODES.logits[: len(q)] if logits is None else logits)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        # layers
        (lambda: ChartwiseLinear(0, 2, 3), ValueError, r"^charts must be an int >= 1"),
        (lambda: ChartwiseLinear(2, 2.0, 3), TypeError, r"^in_features must be an int"),
        (lambda: ChartwiseLinear(2, 2, 0), ValueError, r"^out_features must be an int >= 1"),
        (lambda: ChartwiseLinear(2, 2, 3, bias=1), TypeError, r"^bias must be a bool"),
        (lambda: ChartwiseLinear(2, 2, 3)(torch.rand(5, 2)), ValueError, r"^x must have 3 dim"),
        (lambda: ChartwiseLinear(2, 2, 3)(torch.rand(5, 3, 2)), ValueError, r"^x must have shape"),
        (lambda: ChartwiseLinear(2, 2, 3)(torch.ones(5, 2, 2, dtype=torch.int64)), TypeError,
         r"^x must be a floating-point tensor"),
        (lambda: ChartwiseLinear(2, 2, 3)([[[0.0]]]), TypeError, r"^x must be a torch.Tensor"),
        (lambda: AtlasHead(4, 2, 1)(torch.rand(5, 3)), ValueError, r"^features must have shape"),
        (lambda: AtlasHead(4, 2, 1)(torch.rand(5, 4, device=_META)), ValueError,
         r"^features is on meta but the model is on cpu"),
        (lambda: AtlasAutoencoder((3,), 2, 1).encode(torch.ones(4, 3, dtype=torch.int32)),
         TypeError, r"^x must be a floating-point tensor"),
        (lambda: AtlasAutoencoder((3,), 2, 1).encode(torch.rand(4, 3, device=_META)), ValueError,
         r"^x is on meta but the model is on cpu"),
        (lambda: AtlasAutoencoder((3,), 2, 1).decode(torch.rand(4, 2, 2)), ValueError,
         r"^coords must have shape \(B, 2, 1\)"),
        (lambda: LatentDiscriminator(0, 2), ValueError, r"^charts must be an int >= 1"),
        (lambda: LatentDiscriminator(2, 2.0), TypeError, r"^dim must be an int"),
        (lambda: LatentDiscriminator(2, 2, hidden=0), ValueError, r"^hidden must be an int >= 1"),
        (lambda: LatentDiscriminator(2, 2)(torch.zeros(3), torch.rand(3, 2)), TypeError,
         r"^chart must be an integer tensor"),
        (lambda: LatentDiscriminator(2, 2)(torch.zeros(3, dtype=torch.int64), torch.rand(3, 3)),
         ValueError, r"^chart \(\.\.\.,\) and coords \(\.\.\., 2\) do not fit"),
        # losses
        (lambda: membership_spread(torch.zeros(0, 3)), ValueError, r"^q needs at least 1 rows"),
        (lambda: membership_spread(torch.zeros(4, 0)), ValueError, r"^q needs at least 1 chart"),
        (lambda: membership_spread([[0.5, 0.5]]), TypeError, r"^q must be a torch.Tensor"),
        (lambda: membership_spread(torch.ones(2, 1, dtype=torch.int64)), TypeError,
         r"^q must be a floating-point tensor"),
        (lambda: membership_spread(_NEGATIVE_Q), ValueError, r"^q must be non-negative"),
        (lambda: membership_spread(_UNNORMALISED_Q), ValueError, r"^rows of q must sum to 1.*1\.2"),
        (lambda: membership_spread(_NAN_Q), ValueError, r"^q contains NaN or inf"),
        (lambda: atlas_reconstruction(torch.rand(2, 3), torch.rand(2, 2, 3), _NEGATIVE_Q),
         ValueError, r"^q must be non-negative"),
        (lambda: atlas_reconstruction(torch.rand(3, 3), torch.rand(2, 2, 3), _q(2)), ValueError,
         r"^x must have shape \(B, \*S\) with B = 2"),
        (lambda: atlas_reconstruction(torch.rand(2, 3), torch.rand(2, 3, 3), _q(2)), ValueError,
         r"^reconstructions must have shape \(B, k, \*S\) = \(2, 2, 3\)"),
        (lambda: atlas_reconstruction(torch.full((2, 3), math.nan), torch.rand(2, 2, 3), _q(2)),
         ValueError, r"^x contains NaN or inf"),
        (lambda: atlas_reconstruction(torch.rand(2, 3), torch.full((2, 2, 3), math.inf), _q(2)),
         ValueError, r"^reconstructions contains NaN or inf"),
        (lambda: atlas_reconstruction(torch.rand(2, 3), torch.rand(2, 2, 3, device=_META), _q(2)),
         ValueError, r"^tensors must be on one device, got x on cpu, reconstructions on meta"),
        # the prior and the regularisers
        (lambda: atlas.sample_prior(0, 2, 2, torch.Generator()), ValueError, r"^n must be an int"),
        (lambda: atlas.sample_prior(3.0, 2, 2, torch.Generator()), TypeError, r"^n must be an int"),
        (lambda: atlas.sample_prior(3, 0, 2, torch.Generator()), ValueError, r"^charts must be"),
        (lambda: atlas.sample_prior(3, 2, True, torch.Generator()), TypeError, r"^dim must be"),
        (lambda: atlas.sample_prior(3, 2, 2, 0), TypeError, r"^generator must be a torch.Gen"),
        (lambda: atlas.sample_prior(3, 2, 2, torch.Generator(), device=0), TypeError,
         r"^device must be a str or torch.device"),
        (lambda: atlas.sample_prior(3, 2, 2, torch.Generator(), device="gpu"), ValueError,
         r"^device must name a torch device"),
        (lambda: mmd_to_uniform((_CODES.q, _CODES.logits), torch.Generator()), TypeError,
         r"^codes must be AtlasCodes"),
        (lambda: mmd_to_uniform(_codes(q=_NEGATIVE_Q), torch.Generator()), ValueError,
         r"^codes.q must be non-negative"),
        (lambda: mmd_to_uniform(_codes(q=_UNNORMALISED_Q), torch.Generator()), ValueError,
         r"^rows of codes.q must sum to 1"),
        (lambda: mmd_to_uniform(_codes(logits=torch.full((4, 2, 3), math.nan)), torch.Generator()),
         ValueError, r"^codes.logits contains NaN or inf"),
        (lambda: mmd_to_uniform(_codes(logits=torch.rand(4, 3, 3)), torch.Generator()), ValueError,
         r"^codes.q \(B, k\) and codes.logits \(B, k, d\) do not fit"),
        (lambda: mmd_to_uniform(_codes(logits=torch.rand(4, 2, 3, device=_META)),
                                torch.Generator()),
         ValueError, r"^tensors must be on one device, got codes.q on cpu, codes.logits on meta"),
        (lambda: mmd_to_uniform(_CODES, None), TypeError, r"^generator must be a torch.Generator"),
        (lambda: mmd_to_uniform(_CODES, torch.Generator(), prior_samples=1), ValueError,
         r"^prior_samples must be an int >= 2"),
        (lambda: mmd_to_uniform(_CODES, torch.Generator(), prior_samples=4.0), TypeError,
         r"^prior_samples must be an int"),
        (lambda: mmd_to_uniform(_random_codes(1, 2, 3, 0), torch.Generator()), ValueError,
         r"^codes must hold at least 2 samples"),
        (lambda: discriminator_loss(torch.nn.Linear(2, 2), _CODES, torch.Generator()), TypeError,
         r"^discriminator must be a LatentDiscriminator"),
        (lambda: discriminator_loss(LatentDiscriminator(3, 3), _CODES, torch.Generator()),
         ValueError, r"^discriminator has 3 charts of dimension 3 but codes have 2 of dimension 3"),
        (lambda: discriminator_loss(LatentDiscriminator(2, 3), _CODES, "0"), TypeError,
         r"^generator must be a torch.Generator"),
        (lambda: encoder_gan_loss(LatentDiscriminator(2, 2), _CODES), ValueError,
         r"^discriminator has 2 charts of dimension 2 but codes have 2 of dimension 3"),
        (lambda: encoder_gan_loss(LatentDiscriminator(2, 3).to(_META), _CODES), ValueError,
         r"^codes is on cpu but the model is on meta"),
        (lambda: encoder_gan_loss(LatentDiscriminator(2, 3), _codes(q=_NAN_Q)), ValueError,
         r"^codes.q contains NaN or inf"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_argument(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"variant": None}, TypeError, r"^variant must be a string"),
        ({"q_a": _NEGATIVE_Q}, ValueError, r"^q_a must be non-negative"),
        ({"q_b": _UNNORMALISED_Q}, ValueError, r"^rows of q_b must sum to 1"),
        ({"q_a": _NAN_Q}, ValueError, r"^q_a contains NaN or inf"),
        ({"q_a": [[0.5, 0.5]]}, TypeError, r"^q_a must be a torch.Tensor"),
        ({"q_b": torch.ones(2, 2, dtype=torch.int64)}, TypeError, r"^q_b must be a floating"),
        ({"q_a": torch.zeros(0, 2)}, ValueError, r"^q_a needs at least 1 rows"),
        ({"coords_a": torch.full((2, 2, 3), math.inf)}, ValueError, r"^coords_a contains NaN"),
        ({"coords_b": torch.full((2, 2, 3), math.nan)}, ValueError, r"^coords_b contains NaN"),
        ({"coords_b": torch.rand(2, 2, 3, device=_META)}, ValueError,
         r"^tensors must be on one device, got q_b on cpu, coords_b on meta"),
        ({"q_b": torch.full((2, 2), 0.5, device=_META),
          "coords_b": torch.rand(2, 2, 3, device=_META)},
         ValueError, r"^tensors must be on one device, got q_a on cpu, q_b on meta"),
    ],
)  # fmt: skip
def test_chart_distance_checks_every_argument(change: dict, error: type, match: str) -> None:
    arguments = {"q_a": _q(2), "coords_a": torch.rand(2, 2, 3), "q_b": _q(2)}
    arguments |= {"coords_b": torch.rand(2, 2, 3), "variant": "blog"}
    with pytest.raises(error, match=match):
        chart_distance(**(arguments | change))


def test_memberships_of_a_coarse_dtype_pass_within_its_precision() -> None:
    q = torch.softmax(torch.randn(8, 15, generator=torch.Generator().manual_seed(0)), 1)
    spread = membership_spread(q.to(torch.bfloat16))
    assert spread.item() == pytest.approx(membership_spread(q).item(), rel=0.05)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"model": torch.nn.Linear(2, 2)}, TypeError, r"^model must be an AtlasAutoencoder"),
        ({"config": {"epochs": 1}}, TypeError, r"^config must be an AtlasConfig"),
        ({"data": torch.ones(40, 2, dtype=torch.int64)}, TypeError, r"^data must be a floating"),
        ({"data": torch.full((40, 2), math.nan)}, ValueError, r"^data contains NaN or inf"),
        ({"data": torch.rand(40, 2, device=_META)}, ValueError,
         r"^data is on meta but the model is on cpu"),
        ({"checkpoint": 3}, TypeError, r"^checkpoint must be a path or None"),
        ({"progress": "no"}, TypeError, r"^progress must be a bool"),
    ],
)  # fmt: skip
def test_train_atlas_checks_every_argument(change: dict, error: type, match: str) -> None:
    arguments = {"model": _model(), "data": _circle(40), "progress": False}
    arguments |= {"config": AtlasConfig(regulariser="mmd", epochs=1, batch_size=20)}
    with pytest.raises(error, match=match):
        train_atlas(**(arguments | change))
