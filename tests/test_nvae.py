"""The N-VAE and its baselines: decoder input, loss terms, trainer (to convergence), likelihood
and measures."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence
from torch.nn import functional as F

import toposhape.nvae as nvae
from toposhape.nvae import (
    KINDS,
    LatentVAE,
    OutdatedCheckpointError,
    bernoulli_log_likelihood,
    best_epoch,
    build_vae,
    checkpoint_history,
    classifier_accuracy,
    converged,
    elbo,
    gaussian_kl,
    held_out_gain,
    iwae_log_likelihood,
    kl_per_class,
    posterior,
    train_vae,
    traversal,
)
from toposhape.training import Checkpoint, read_checkpoint, state_digest, write_checkpoint

K, L, M = 3, 2, 3


class _Interrupted(Exception):
    pass


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _model(kind: str = "nvae", seed: int = 0, **kwargs) -> LatentVAE:
    settings = {"classes": K, "class_dim": L, "shared_dim": M, "hidden": 32}
    return build_vae(seed, kind=kind, **{**settings, **kwargs})


def _bars(n: int, seed: int, size: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    """n noisy images of a horizontal bar, in the top, middle or bottom third by class.

    The bar's position is what the encoder must encode to reconstruct, and it gives the
    class away, so the N-VAE's classifier head can learn from the shared features.
    """
    g = _gen(seed)
    labels = torch.arange(n) % 3
    images = 0.1 * torch.rand(n, 1, size, size, generator=g)
    rows = (torch.randint(0, 5, (n,), generator=g) + 1 + 9 * labels).tolist()
    cols = torch.randint(0, size - 16, (n,), generator=g).tolist()
    for i, (row, col) in enumerate(zip(rows, cols, strict=True)):
        images[i, 0, row : row + 3, col : col + 14] = 0.9
    return images, labels


def _fit(model: LatentVAE, images: torch.Tensor, labels: torch.Tensor, **kwargs) -> list[dict]:
    """train_vae with a small validation set and, unless overridden, a fixed number of epochs
    (a rule that cannot stop before ``max_epochs``)."""
    settings = {
        "validation": (images[:10], labels[:10]),
        "max_epochs": 1,
        "patience": 100,
        "tolerance": 0.0,
        "batch_size": 20,
        "progress": False,
    }
    return train_vae(model, images, labels, **(settings | kwargs))


@pytest.fixture(scope="module")
def trained() -> dict:
    """An N-VAE and a VAE trained for 6 epochs on 200 bar images, and 60 test images."""
    images, labels = _bars(200, seed=0)
    out = {"test": _bars(60, seed=1)}
    for kind in ("nvae", "vae"):
        model = _model(kind, seed=1, hidden=64)
        history = _fit(model, images, labels, validation=_bars(40, seed=9), max_epochs=6)
        out[kind] = (model, history)
    return out


# ---------------------------------------------------------------------- architecture


def _oracle_nvae_input(z: torch.Tensor, y: torch.Tensor, classes: int, class_dim: int):
    rows = []
    for z_b, y_b in zip(z, y, strict=True):
        c_y = F.one_hot(y_b, classes).to(z.dtype)
        ones_zc = torch.cat([torch.ones(1), z_b[:class_dim]])
        rows.append(torch.cat([torch.kron(c_y, ones_zc), z_b[class_dim:]]))
    return torch.stack(rows)


@pytest.mark.parametrize("shared_dim", [M, 0])
def test_nvae_decoder_input_is_vec_of_class_kronecker(shared_dim: int) -> None:
    model = _model(shared_dim=shared_dim)
    z = torch.randn(7, L + shared_dim, generator=_gen(0))
    y = torch.tensor([0, 1, 2, 2, 1, 0, 1])
    got = model.decoder_input(z, y)
    assert got.shape == (7, K * (L + 1) + shared_dim) == (7, model.decoder[0].in_features)
    assert torch.equal(got, _oracle_nvae_input(z, y, K, L))
    blocks = got[:, : K * (L + 1)].reshape(7, K, L + 1)
    for b in range(7):
        for k in range(K):
            if k == y[b]:
                assert torch.equal(blocks[b, k], torch.cat([torch.ones(1), z[b, :L]]))
            else:
                assert (blocks[b, k] == 0).all()
    assert torch.equal(got[:, K * (L + 1) :], z[:, L:])


def test_cvae_and_vae_decoder_inputs() -> None:
    z = torch.randn(5, L + M, generator=_gen(1))
    y = torch.tensor([2, 0, 1, 1, 0])
    cvae = _model("cvae")
    assert torch.equal(cvae.decoder_input(z, y), torch.cat([z, torch.eye(K)[y]], dim=1))
    assert cvae.decoder[0].in_features == L + M + K
    for kind in ("vae",):
        model = _model(kind)
        assert torch.equal(model.decoder_input(z, y), z)
        assert torch.equal(model.decoder_input(z), z)
        assert model.decoder[0].in_features == L + M
    with pytest.raises(ValueError, match="y"):
        _model("nvae").decoder_input(z)
    with pytest.raises(ValueError, match="z"):
        cvae.decoder_input(z[:, :-1], y)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("image_shape", [(1, 28, 28), (1, 48, 40)])
def test_shapes(kind: str, image_shape: tuple[int, int, int]) -> None:
    model = _model(kind, image_shape=image_shape, hidden=16)
    x = torch.rand(4, *image_shape, generator=_gen(0))
    y = torch.tensor([0, 2, 1, 0])
    mu, logvar, class_logits = model.encode(x)
    assert mu.shape == logvar.shape == (4, L + M)
    assert class_logits.shape == (4, K)
    assert model.decode(mu, y).shape == (4, *image_shape)
    terms = model(x, y, _gen(1))
    for key in ("loss", "reconstruction", "kl_c", "kl_s", "classification"):
        assert terms[key].shape == ()
        assert torch.isfinite(terms[key])
    assert terms["kl_per_dim"].shape == (4, L + M)
    assert not terms["kl_per_dim"].requires_grad
    assert model.sample(y, _gen(2)).shape == (4, *image_shape)
    assert LatentVAE(**model.config).config == model.config
    with pytest.raises(ValueError, match="x"):
        model.encode(torch.rand(4, 1, 28, 32))


@pytest.mark.parametrize(
    ("kwargs", "name", "error"),
    [
        ({"kind": "x"}, "kind", ValueError),
        ({"classes": 1}, "classes", ValueError),
        ({"class_dim": 0}, "class_dim", ValueError),
        ({"class_dim": True}, "class_dim", TypeError),
        ({"shared_dim": -1}, "shared_dim", ValueError),
        ({"shared_dim": 2.0}, "shared_dim", TypeError),
        ({"hidden": 0}, "hidden", ValueError),
        ({"kind": "betavae"}, "kind", ValueError),
        ({"kind": "nvae", "beta": -0.5}, "beta", ValueError),
        ({"kind": "nvae", "beta": float("nan")}, "beta", ValueError),
        ({"kind": "nvae", "beta": float("inf")}, "beta", ValueError),
        ({"kind": "nvae", "beta": "4"}, "beta", TypeError),
        ({"kind": "vae", "beta": 2.0}, "beta", ValueError),
        ({"kind": "cvae", "beta": 0.0}, "beta", ValueError),
        ({"image_shape": (1, 30, 28)}, "image_shape", ValueError),
        ({"image_shape": (3, 28, 28)}, "image_shape", ValueError),
        ({"image_shape": (1, 4, 4)}, "image_shape", ValueError),
        ({"image_shape": (28, 28)}, "image_shape", ValueError),
    ],
)
def test_bad_model_arguments(kwargs: dict, name: str, error: type) -> None:
    with pytest.raises(error, match=f"^{name}"):
        LatentVAE(**{"kind": "nvae", **kwargs})


def test_betas_that_are_allowed() -> None:
    assert LatentVAE("nvae", beta=0.0).beta == 0.0
    assert LatentVAE("nvae", beta=4).config["beta"] == 4.0
    assert LatentVAE("nvae", shared_dim=0).latent_dim == 4


def test_train_vae_rejects_bad_data() -> None:
    model = _model()
    images, labels = _bars(40, seed=0)
    for bad in (torch.full((40,), K), torch.full((40,), -1)):
        with pytest.raises(ValueError, match="labels"):
            _fit(model, images, bad, validation=(images[:5], labels[:5]))
    with pytest.raises(ValueError, match="labels"):
        _fit(model, images, labels[:-1])
    with pytest.raises(TypeError, match="labels"):
        _fit(model, images, labels.float())
    with pytest.raises(ValueError, match="images"):
        _fit(model, images[:, :, :24], labels, validation=(images[:5], labels[:5]))
    with pytest.raises(ValueError, match="lr"):
        _fit(model, images, labels, lr=0.0)
    with pytest.raises(TypeError, match=r"^validation must be a pair"):
        _fit(model, images, labels, validation=images)
    with pytest.raises(ValueError, match=r"^images must have shape \(N, 1, 28, 28\)"):
        _fit(model, images, labels, validation=(images[:5, :, :24], labels[:5]))
    with pytest.raises(ValueError, match=r"^labels must be in"):
        _fit(model, images, labels, validation=(images[:5], labels[:5] + K))


# ------------------------------------------------------------------------ loss terms


def test_gaussian_kl_matches_torch_and_monte_carlo() -> None:
    g = _gen(0)
    mu, logvar = torch.randn(6, generator=g), torch.randn(6, generator=g)
    q = Normal(mu.double(), (0.5 * logvar.double()).exp())
    exact = kl_divergence(q, Normal(0.0, 1.0))
    torch.testing.assert_close(gaussian_kl(mu, logvar).double(), exact, rtol=1e-5, atol=1e-6)
    z = q.sample((400_000,))
    log_ratio = q.log_prob(z) - Normal(0.0, 1.0).log_prob(z)
    stderr = log_ratio.std(dim=0) / math.sqrt(len(z))
    assert ((log_ratio.mean(dim=0) - exact).abs() < 5 * stderr + 1e-3).all()


def _stub_encoder(model: LatentVAE, mu: torch.Tensor, logvar: torch.Tensor):
    def encode(x: torch.Tensor):
        logits = torch.zeros(x.shape[0], model.classes)
        return mu.expand(x.shape[0], -1), logvar.expand(x.shape[0], -1), logits

    return encode


def test_kl_c_and_kl_s_cover_the_first_l_and_last_m_dims(monkeypatch) -> None:
    model = _model()
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([0, 1, 2])
    values = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.5])
    for first in (True, False):
        mask = torch.arange(L + M) < L if first else torch.arange(L + M) >= L
        mu = torch.where(mask, values, 0.0)
        monkeypatch.setattr(model, "encode", _stub_encoder(model, mu, torch.zeros(L + M)))
        terms = model(x, y, _gen(0))
        inside, outside = ("kl_c", "kl_s") if first else ("kl_s", "kl_c")
        torch.testing.assert_close(terms[inside], 0.5 * mu.pow(2).sum())
        assert terms[outside] == 0
        torch.testing.assert_close(terms["kl_per_dim"], 0.5 * mu.pow(2).expand(3, -1))


def test_beta_c_weights_the_kl_of_z_c_only() -> None:
    x, y = _bars(6, seed=2)
    for kind, weighted in (("nvae", ("kl_c",)),):
        # in float64: the loss is ~500 nats, the KL ~0.01
        x = x.double()
        zero = _model(kind, seed=3, beta=0.0).double()(x, y, _gen(4))
        one = _model(kind, seed=3, beta=1.0).double()(x, y, _gen(4))
        three = _model(kind, seed=3, beta=3.0).double()(x, y, _gen(4))
        kl = sum(one[key] for key in weighted)
        torch.testing.assert_close(one["loss"] - zero["loss"], kl)
        torch.testing.assert_close(three["loss"] - zero["loss"], 3 * kl)
        for key in ("reconstruction", "kl_c", "kl_s", "classification"):
            assert torch.equal(zero[key], one[key])


@pytest.mark.parametrize("kind", KINDS)
def test_loss_against_an_independent_computation(kind: str) -> None:
    beta = 0.7 if kind == "nvae" else 1.0
    model = _model(kind, seed=5, beta=beta)
    x, y = _bars(5, seed=3)
    terms = model(x, y, _gen(6))

    mu, logvar, class_logits = (t.double() for t in model.encode(x))
    eps = torch.randn(mu.shape, generator=_gen(6)).double()
    z = mu + (0.5 * logvar).exp() * eps
    logits = model.decode(z.float(), y).double()
    xd = x.double()
    log_px = (xd * F.logsigmoid(logits) + (1 - xd) * F.logsigmoid(-logits)).sum(dim=(1, 2, 3))
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    kl_c, kl_s = kl[:, :L].sum(1).mean(), kl[:, L:].sum(1).mean()
    classification = -class_logits.log_softmax(dim=1)[torch.arange(5), y].mean()
    reconstruction = -log_px.mean()
    expected = (
        reconstruction + kl_s + beta * kl_c + classification
        if kind == "nvae"
        else reconstruction + kl_c + kl_s
    )
    for key, value in [
        ("reconstruction", reconstruction),
        ("kl_c", kl_c),
        ("kl_s", kl_s),
        ("classification", classification),
        ("loss", expected),
    ]:
        torch.testing.assert_close(terms[key].double(), value, rtol=2e-5, atol=1e-4)


# --------------------------------------------------------------------------- trainer


def test_training_reduces_the_loss_and_trains_the_nvae_classifier(trained) -> None:
    images, labels = trained["test"]
    for kind in ("nvae", "vae"):
        history = trained[kind][1]
        assert len(history) == 6
        keys = {"loss", "reconstruction", "kl_c", "kl_s", "classification", "seconds", "val_elbo"}
        assert keys <= set(history[0])
        assert history[-1]["val_elbo"] > history[0]["val_elbo"]
        assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    assert classifier_accuracy(trained["nvae"][0], images, labels) > 0.9  # chance: 1/3
    nvae_history = trained["nvae"][1]
    assert nvae_history[-1]["classification"] < 0.5 * nvae_history[0]["classification"]
    # only the N-VAE's loss trains the classifier head: the VAE's is still at its init
    vae, untouched = trained["vae"][0], _model("vae", seed=1, hidden=64)
    assert torch.equal(vae.class_head.weight, untouched.class_head.weight)
    assert not torch.equal(vae.mu_head.weight, untouched.mu_head.weight)


def test_train_vae_resume_is_exact(tmp_path, monkeypatch) -> None:
    images, labels = _bars(60, seed=4)  # 3 batches of 20 per epoch
    settings = {"max_epochs": 3, "seed": 7}

    reference = _model(seed=8)
    history_a = _fit(reference, images, labels, checkpoint=tmp_path / "a.pt", **settings)

    original = nvae.bernoulli_log_likelihood
    calls = 0

    def failing(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 6:  # second step of epoch 2 (the first epoch's validation is call 4)
            raise _Interrupted
        return original(*args, **kwargs)

    checkpoint = tmp_path / "b.pt"
    monkeypatch.setattr(nvae, "bernoulli_log_likelihood", failing)
    with pytest.raises(_Interrupted):
        _fit(_model(seed=8), images, labels, checkpoint=checkpoint, **settings)
    monkeypatch.setattr(nvae, "bernoulli_log_likelihood", original)
    assert checkpoint.is_file()

    resumed = _model(seed=8)
    history_b = _fit(resumed, images, labels, checkpoint=checkpoint, **settings)
    state_a, state_b = reference.state_dict(), resumed.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name
    for key in ("loss", "reconstruction", "kl_c", "kl_s", "classification", "val_elbo"):
        assert [h[key] for h in history_a] == [h[key] for h in history_b]


def test_train_vae_does_not_depend_on_global_rng_and_refuses_other_configs(tmp_path) -> None:
    images, labels = _bars(40, seed=5)
    states = []
    for global_seed in (10, 11):
        torch.manual_seed(global_seed)
        model = _model("cvae", seed=2)
        _fit(model, images, labels, seed=1)
        states.append(model.state_dict())
    for name in states[0]:
        assert torch.equal(states[0][name], states[1][name]), name
    checkpoint = tmp_path / "c.pt"
    _fit(_model(), images, labels, checkpoint=checkpoint)
    with pytest.raises(ValueError, match="config"):
        _fit(_model(beta=0.5), images, labels, checkpoint=checkpoint)
    with pytest.raises(ValueError, match=r"config\.validation"):  # another validation set
        _fit(_model(), images, labels, checkpoint=checkpoint, validation=(images[:9], labels[:9]))


def _scripted(monkeypatch, values: list[float]) -> None:
    """Make the validation ELBO of the next epochs ``values``, in turn (training is unchanged)."""
    draws = iter(values)
    monkeypatch.setattr(nvae, "elbo", lambda *_args, **_kwargs: next(draws))


def test_train_vae_returns_the_weights_of_the_best_validation_epoch(monkeypatch) -> None:
    images, labels = _bars(60, seed=12)
    settings = {"max_epochs": 4, "seed": 3}
    _scripted(monkeypatch, [-10.0, -5.0, -7.0, -8.0])  # worse after epoch 2
    model = _model(seed=5)
    history = _fit(model, images, labels, **settings)
    assert [h["val_elbo"] for h in history] == [-10.0, -5.0, -7.0, -8.0]  # every epoch ran
    assert best_epoch(history) == 2
    _scripted(monkeypatch, [-10.0, -9.0, -8.0, -7.0])  # best at the last epoch
    last = _model(seed=5)
    _fit(last, images, labels, **settings)
    monkeypatch.undo()
    at_two = _model(seed=5)  # oracle: the same run stopped after epoch 2
    _fit(at_two, images, labels, **(settings | {"max_epochs": 2}))
    assert state_digest(model) == state_digest(at_two) != state_digest(last)


def _saved_digest(state: dict[str, torch.Tensor]) -> str:
    """:func:`state_digest` of a model state dict read from a checkpoint."""
    model = _model()
    model.load_state_dict(state)
    return state_digest(model)


def test_a_resumed_run_ends_at_the_best_weights_of_an_uninterrupted_one(
    tmp_path, monkeypatch
) -> None:
    images, labels = _bars(60, seed=13)
    values = [-10.0, -5.0, -7.0, -6.0, -9.0]  # best at epoch 2
    _scripted(monkeypatch, values)
    whole = _model(seed=6)
    _fit(whole, images, labels, max_epochs=5, seed=4)
    checkpoint = tmp_path / "resumed.pt"
    _scripted(monkeypatch, values[:3])
    first = _model(seed=6)
    _fit(first, images, labels, max_epochs=3, seed=4, checkpoint=checkpoint)
    saved = read_checkpoint(checkpoint)
    assert _saved_digest(saved.state["best"]) == state_digest(first)  # kept in the checkpoint
    assert _saved_digest(saved.state["model"]) != state_digest(first)  # beside the last
    _scripted(monkeypatch, values[3:])
    resumed = _model(seed=6)
    history = _fit(resumed, images, labels, max_epochs=5, seed=4, checkpoint=checkpoint)
    assert [h["val_elbo"] for h in history] == values and checkpoint_history(checkpoint) == history
    assert state_digest(resumed) == state_digest(whole) == state_digest(first)


def test_a_checkpoint_without_best_weights_is_refused(tmp_path) -> None:
    images, labels = _bars(40, seed=14)
    checkpoint = tmp_path / "old.pt"
    _fit(_model(), images, labels, checkpoint=checkpoint)
    saved = read_checkpoint(checkpoint)  # as an earlier toposhape wrote it: no best weights
    saved.identity["state"].pop("best")
    old = {k: v for k, v in saved.state.items() if k != "best"}
    write_checkpoint(checkpoint, Checkpoint(saved.identity, saved.history, old))
    before = checkpoint.read_bytes()
    with pytest.raises(OutdatedCheckpointError, match="before train_vae kept the best"):
        _fit(_model(), images, labels, checkpoint=checkpoint, max_epochs=2)
    with pytest.raises(OutdatedCheckpointError, match=str(checkpoint)):
        checkpoint_history(checkpoint)
    assert checkpoint.read_bytes() == before  # neither resumed nor overwritten
    assert checkpoint_history(tmp_path / "none.pt") == [] == checkpoint_history(None)


@pytest.mark.parametrize(
    ("values", "expected"),
    [([-3.0], 1), ([-3.0, -1.0, -2.0], 2), ([-3.0, -1.0, -1.0], 2), ([-1.0, -2.0, -3.0], 1)],
)
def test_best_epoch_is_the_first_of_the_highest(values, expected) -> None:
    assert best_epoch([{"val_elbo": v} for v in values]) == expected


@pytest.mark.parametrize(
    ("values", "patience", "tolerance", "expected"),
    [
        ([-100.0, -99.0, -98.0], 2, 0.01, False),  # fewer than 2·patience epochs
        ([-100.0, -99.0, -98.9, -98.85], 2, 0.1, False),  # best -98.85 vs -99.0: 0.15 nats
        ([-100.0, -99.0, -98.9, -98.85], 2, 0.2, True),
        ([-100.0, -99.0, -98.9, -98.75], 2, 0.2, False),  # 0.25 nats: continues
        ([-100.0, -99.0, -98.9, -98.75], 2, 0.25, False),  # a gain of exactly the tolerance
        ([-900.0, -899.0, -898.9, -898.4], 2, 0.5, False),  # 0.6 nats: continues, though a
        ([-900.0, -899.0, -898.9, -898.6], 2, 0.5, True),  # 0.4 nats stop; not relative
        ([-90.0, -89.0, -88.95, -88.9], 2, 0.15, True),  # 0.1 nats < 0.15: stops
        ([-90.0, -89.0, -88.95, -88.8], 2, 0.15, False),  # 0.2 nats: continues
        ([-100.0, -99.0, -99.5, -99.6], 2, 0.0, True),  # worse than before: stops
        ([-100.0, -99.0, -99.0, -99.0], 2, 0.001, True),  # no gain at all
        ([-10.0, -5.0, -4.999], 1, 0.0, False),  # any gain continues at tolerance 0
    ],
)
def test_converged_against_hand_computed_cases(values, patience, tolerance, expected) -> None:
    history = [{"val_elbo": v} for v in values]
    assert converged(history, patience, tolerance) is expected


def test_the_held_out_gain_is_what_the_stopping_rule_compares() -> None:
    history = [{"val_elbo": v} for v in (0.0, 1.0, 3.0, 2.0, 2.5, 2.4)]
    assert held_out_gain(history, 2) == pytest.approx(2.5 - 3.0)  # fell: negative
    assert held_out_gain(history, 4) == pytest.approx(3.0 - 1.0)
    assert math.isnan(held_out_gain(history, 6))  # nothing before the window
    # the rule stops exactly when the gain over its patience is below its tolerance, here
    # against a gain computed apart (the largest of the window minus the largest before it)
    rng = np.random.default_rng(3)
    for _ in range(200):
        values = np.cumsum(rng.normal(0.2, 1.0, rng.integers(4, 30)))
        history = [{"val_elbo": float(v)} for v in values]
        patience, tolerance = int(rng.integers(1, 6)), float(rng.uniform(0, 1))
        if len(values) <= patience:
            assert math.isnan(held_out_gain(history, patience))
            assert not converged(history, patience, tolerance)
            continue
        gain = values[len(values) - patience :].max() - values[: len(values) - patience].max()
        assert held_out_gain(history, patience) == pytest.approx(gain)
        expected = len(values) >= 2 * patience and gain < tolerance
        assert converged(history, patience, tolerance) == expected


def test_the_stopping_tolerance_is_absolute_in_nats() -> None:
    """A gain of 0.3 nats per window stops under tolerance 0.5 whatever the ELBO's size, and
    continues under 0.2: the rule does not scale with |ELBO| (a relative 0.2 % would stop
    the first history at -900 nats, 1.8 nats, but not the second at -9)."""
    for offset in (-9.0, -90.0, -900.0, -9000.0):
        history = [{"val_elbo": offset + v} for v in (0.0, 1.0, 1.1, 1.3)]
        assert converged(history, 2, 0.5) and not converged(history, 2, 0.2)
        assert not converged(history, 2, 0.3 - 1e-9) and converged(history, 2, 0.3 + 1e-9)


def test_training_stops_by_the_rule_and_resumes_under_a_stricter_one(tmp_path) -> None:
    images, labels = _bars(60, seed=10)
    validation = _bars(20, seed=11)
    checkpoint = tmp_path / "rule.pt"
    lax = _fit(
        _model(seed=3), images, labels, validation=validation, max_epochs=30, patience=1,
        tolerance=1e6, checkpoint=checkpoint,
    )  # fmt: skip
    assert len(lax) == 2  # two epochs are the least the rule looks at; 1e6 nats are not met
    assert converged(lax, 1, 1e6) and not converged(lax[:1], 1, 1e6)
    model = _model(seed=3)
    strict = _fit(
        model, images, labels, validation=validation, max_epochs=5, patience=1, tolerance=0.0,
        checkpoint=checkpoint,
    )  # fmt: skip
    assert strict[:2] == lax and 2 < len(strict) <= 5  # resumed, not started over
    # the recorded validation ELBO is elbo() with the training seed's draws, on the model
    # returned: that of the best epoch
    expected = elbo(model, *validation, torch.Generator().manual_seed(0))
    assert strict[best_epoch(strict) - 1]["val_elbo"] == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------ likelihood bounds


@pytest.mark.parametrize("kind", ["nvae", "vae"])
def test_iwae_bounds_the_elbo_and_tightens_with_k(trained, kind: str) -> None:
    model = trained[kind][0]
    images, labels = trained["test"]
    bound = np.mean([elbo(model, images, labels, _gen(s)) for s in range(10)])
    iwae = {
        k: np.mean([iwae_log_likelihood(model, images, labels, k, _gen(s)) for s in range(3)])
        for k in (1, 10, 100)
    }
    assert iwae[100] >= iwae[10] - 0.05 >= iwae[1] - 0.1
    assert iwae[100] > bound + 0.1  # a trained model's bound is visibly loose
    # k = 1 is an unbiased estimate of the ELBO
    ones = [iwae_log_likelihood(model, images, labels, 1, _gen(100 + s)) for s in range(30)]
    assert abs(np.mean(ones) - bound) < 4 * np.std(ones) / math.sqrt(30) + 0.2


def test_elbo_leaves_out_the_classifier_term() -> None:
    model = _model(seed=4)
    x, y = _bars(9, seed=6)
    terms = model(x, y, _gen(3))
    expected = float(-(terms["reconstruction"] + terms["kl_c"] + terms["kl_s"]).detach())
    assert elbo(model, x, y, _gen(3)) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("kind", ["nvae", "cvae", "vae"])
def test_iwae_is_exact_when_the_decoder_ignores_z(kind: str) -> None:
    # q(z|x) = N(0, I) = p(z) and a decoder blind to z: every importance weight is
    # p(x|y), so the estimate must equal the exact log-likelihood for any k.
    model = _model(kind, seed=6, image_shape=(1, 12, 12))
    with torch.no_grad():
        for head in (model.mu_head, model.logvar_head):
            head.weight.zero_()
            head.bias.zero_()
        on_z = torch.ones(model.decoder[0].in_features, dtype=torch.bool)
        if kind == "nvae":
            on_z[torch.arange(K) * (L + 1)] = False  # keep the class biases
        elif kind == "cvae":
            on_z[L + M :] = False  # keep the one-hot label
        model.decoder[0].weight[:, on_z] = 0.0
    x = torch.rand(8, 1, 12, 12, generator=_gen(7))
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    with torch.no_grad():
        logits = model.decode(torch.zeros(8, L + M), y).double()
    exact = float(bernoulli_log_likelihood(logits, x.double()).mean())
    for k in (1, 7):
        assert iwae_log_likelihood(model, x, y, k, _gen(k), batch_size=3) == pytest.approx(
            exact, abs=1e-4
        )
    assert elbo(model, x, y, _gen(1)) == pytest.approx(exact, abs=1e-4)
    other = iwae_log_likelihood(model, x, (y + 1) % K, 3, _gen(0))
    if kind == "vae":
        assert other == pytest.approx(exact, abs=1e-4)
    else:  # the conditional models' likelihood depends on the label
        assert abs(other - exact) > 1e-3


# -------------------------------------------------------------------------- measures


def test_sample_shape_range_and_sigma() -> None:
    model = _model(seed=7)
    y = torch.tensor([0, 1, 2, 1])
    samples = model.sample(y, _gen(0))
    assert samples.shape == (4, 1, 28, 28)
    assert ((samples >= 0) & (samples <= 1)).all()
    with torch.no_grad():
        at_zero = torch.sigmoid(model.decode(torch.zeros(4, L + M), y))
        z = 2.5 * torch.randn(4, L + M, generator=_gen(1))
        scaled = torch.sigmoid(model.decode(z, y))
    assert torch.equal(model.sample(y, _gen(3), sigma=0.0), at_zero)
    torch.testing.assert_close(model.sample(y, _gen(1), sigma=2.5), scaled)
    assert not torch.equal(model.sample(y, _gen(1)), scaled)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^sigma must be"):
            model.sample(y, _gen(0), sigma=bad)
    with pytest.raises(TypeError, match=r"^sigma must be a number"):
        model.sample(y, _gen(0), sigma="1")
    with pytest.raises(ValueError, match="labels"):
        model.sample(torch.tensor([0, K]), _gen(0))


def test_posterior_means_and_draws_against_encode() -> None:
    model = _model(seed=11)
    images, _ = _bars(7, seed=12)
    means, draws = posterior(model, images, _gen(3), batch_size=7)
    with torch.no_grad():
        mu, logvar, _ = model.encode(images)
    eps = torch.randn(mu.shape, generator=_gen(3))
    torch.testing.assert_close(means, mu)
    torch.testing.assert_close(draws, mu + (0.5 * logvar).exp() * eps)
    torch.testing.assert_close(posterior(model, images, _gen(4), batch_size=3)[0], mu)


def test_kl_per_class_and_classifier_accuracy_against_loops() -> None:
    model = _model(seed=9)
    images, labels = _bars(12, seed=7)
    labels[labels == 2] = 0  # class 2 has no images
    table = kl_per_class(model, images, labels, batch_size=5)
    assert table.shape == (K, L + M)
    with torch.no_grad():
        mu, logvar, class_logits = model.encode(images)
    kl = gaussian_kl(mu, logvar).double().numpy()
    for k in (0, 1):
        np.testing.assert_allclose(table[k], kl[labels.numpy() == k].mean(axis=0), rtol=1e-5)
    assert (table[:2] >= 0).all()
    assert np.isnan(table[2]).all()
    expected = float((class_logits.argmax(dim=1) == labels).float().mean())
    assert classifier_accuracy(model, images, labels, batch_size=5) == pytest.approx(expected)


@pytest.mark.parametrize("kind", ["nvae", "vae"])
def test_traversal(kind: str) -> None:
    model = _model(kind, seed=10)
    base = torch.randn(L + M, generator=_gen(0))
    values = torch.linspace(-2, 2, 5)
    grid = traversal(model, base, 1, values, [2, 0])
    assert grid.shape == (2, 5, 1, 28, 28)
    z = base.repeat(5, 1)
    z[:, 1] = values
    with torch.no_grad():
        for row, c in enumerate((2, 0)):
            expected = torch.sigmoid(model.decode(z, torch.full((5,), c)))
            torch.testing.assert_close(grid[row], expected)
    assert torch.equal(grid[0], grid[1]) == (kind == "vae")
    with pytest.raises(ValueError, match="dim"):
        traversal(model, base, L + M, values, [0])
    with pytest.raises(ValueError, match="classes"):
        traversal(model, base, 0, values, [K])


@pytest.mark.parametrize("lr", [0.0, float("nan"), float("inf")])
def test_train_vae_rejects_a_bad_learning_rate(lr: float) -> None:
    images = torch.rand(20, 1, 28, 28, generator=_gen(0))
    labels = torch.arange(20) % K
    with pytest.raises(ValueError, match=r"^lr must be"):
        _fit(_model(), images, labels, batch_size=10, lr=lr)


# ------------------------------------------------------------------ bad arguments

_X = torch.rand(6, 1, 28, 28, generator=_gen(0))
_Y = torch.arange(6) % K
_META = torch.device("meta")
_NAN_X = _X.clone().index_put_((torch.tensor(0),), torch.tensor(float("nan")))


def _one_device(*names: str) -> str:
    """The message of check_same_device for the last name on meta."""
    return rf"^tensors must be on one device, got .*{names[-1]} on meta"


# (override of the call's keyword arguments, error, pattern of the message)
_BAD_DATA = [
    ({"model": torch.nn.Linear(2, 2)}, TypeError, "^model must be a LatentVAE"),
    ({"images": _X.numpy()}, TypeError, "^images must be a torch.Tensor"),
    ({"images": _X[:0]}, ValueError, "^images needs at least"),
    ({"images": _X[0]}, ValueError, "^images must have 4 dimensions"),
    ({"images": _X[:, :, :24]}, ValueError, r"^images must have shape \(N, 1, 28, 28\)"),
    ({"images": _X.double()}, TypeError, "^images must be torch.float32 like the model"),
    ({"images": (_X * 255).to(torch.uint8)}, TypeError, "^images must be torch.float32"),
    ({"images": _NAN_X}, ValueError, r"^images must be finite and in \[0, 1\]"),
    ({"images": _X + 1}, ValueError, r"^images must be finite and in \[0, 1\]"),
    ({"images": _X.to(_META), "labels": _Y.to(_META)}, ValueError, "^images is on meta"),
    ({"labels": _Y.to(_META)}, ValueError, _one_device("images", "labels")),
    ({"labels": _Y.tolist()}, TypeError, "^labels must be a torch.Tensor"),
    ({"labels": _Y.float()}, TypeError, "^labels must be an integer tensor"),
    ({"labels": _Y.bool()}, TypeError, "^labels must be an integer tensor"),
    ({"labels": _Y[:, None]}, ValueError, "^labels must have 1 dimensions"),
    ({"labels": _Y[:-1]}, ValueError, r"^labels must have shape \(6,\)"),
    ({"labels": _Y + 1}, ValueError, rf"^labels must be in \[0, {K}\)"),
    ({"labels": _Y - 1}, ValueError, rf"^labels must be in \[0, {K}\)"),
    ({"generator": 0}, TypeError, "^generator must be a torch.Generator"),
    ({"batch_size": 0}, ValueError, "^batch_size must be an int >= 1"),
    ({"batch_size": 2.0}, TypeError, "^batch_size must be an int"),
    ({"k": 0}, ValueError, "^k must be an int >= 1"),
    ({"k": 1.5}, TypeError, "^k must be an int"),
    ({"max_epochs": 0}, ValueError, "^max_epochs must be an int >= 1"),
    ({"max_epochs": 1.0}, TypeError, "^max_epochs must be an int"),
    ({"patience": 0}, ValueError, "^patience must be an int >= 1"),
    ({"tolerance": -0.1}, ValueError, r"^tolerance must be in \[0.0, inf\]"),
    ({"tolerance": None}, TypeError, "^tolerance must be a number"),
    ({"lr": float("nan")}, ValueError, "^lr must be finite"),
    ({"lr": "0.1"}, TypeError, "^lr must be a number"),
    ({"seed": -1}, ValueError, "^seed must be an int in"),
    ({"seed": 2**32}, ValueError, "^seed must be an int in"),
    ({"checkpoint": 3}, TypeError, "^checkpoint must be a path"),
    ({"progress": 1}, TypeError, "^progress must be a bool"),
]


def _labelled(function: str) -> tuple[str, ...]:
    return () if function == "posterior" else ("labels",)


_DATA_CALLS = {
    "elbo": (elbo, {"generator": _gen(0), "batch_size": 4}),
    "iwae_log_likelihood": (iwae_log_likelihood, {"k": 2, "generator": _gen(0), "batch_size": 4}),
    "classifier_accuracy": (classifier_accuracy, {"batch_size": 4}),
    "kl_per_class": (kl_per_class, {"batch_size": 4}),
    "posterior": (posterior, {"generator": _gen(0), "batch_size": 4}),
    "train_vae": (
        train_vae,
        {
            "validation": (_X, _Y),
            "max_epochs": 1,
            "patience": 1,
            "tolerance": 0.0,
            "batch_size": 2,
            "lr": 1e-3,
            "seed": 0,
            "checkpoint": None,
            "progress": False,
        },
    ),
}


@pytest.mark.parametrize(
    ("function", "override", "error", "pattern"),
    [
        pytest.param(name, override, error, pattern, id=f"{name}-{i}")
        for name, (_, base) in _DATA_CALLS.items()
        for i, (override, error, pattern) in enumerate(_BAD_DATA)
        if set(override) <= {"model", "images", *base, *_labelled(name)}
    ],
)
def test_data_functions_reject_bad_arguments(
    function: str, override: dict, error: type, pattern: str, monkeypatch
) -> None:
    fn, base = _DATA_CALLS[function]
    model = _model(hidden=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    monkeypatch.setattr(model, "encode", lambda x: pytest.fail("work began before the checks"))
    kwargs = {"model": model, "images": _X, **dict.fromkeys(_labelled(function), _Y), **base}
    with pytest.raises(error, match=pattern):
        fn(**(kwargs | override))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


_MU, _LOGITS = torch.randn(4, 5, generator=_gen(1)), torch.randn(4, 3, 2, generator=_gen(2))
_P = torch.rand(4, 3, 2, generator=_gen(3))
_Z = torch.randn(3, L + M, generator=_gen(5))
_NAN = float("nan")


def _with(tensor: torch.Tensor, value: float) -> torch.Tensor:
    out = tensor.clone()
    out.view(-1)[0] = value
    return out


def _method(name: str):
    def call(*args, **kwargs):
        return getattr(_model(hidden=8), name)(*args, **kwargs)

    return call


# (function, positional arguments, error, pattern of the message)
_BAD_CALLS = [
    (gaussian_kl, (_MU.tolist(), _MU), TypeError, "^mu must be a torch.Tensor"),
    (gaussian_kl, (_MU.long(), _MU), TypeError, "^mu must be a floating-point"),
    (gaussian_kl, (_MU, _MU[:, :4]), ValueError, r"^logvar must have the shape of mu \(4, 5\)"),
    (gaussian_kl, (_MU, _MU.to(_META)), ValueError, _one_device("mu", "logvar")),
    (gaussian_kl, (_with(_MU, _NAN), _MU), ValueError, "^mu contains NaN or inf"),
    (gaussian_kl, (_MU, _with(_MU, math.inf)), ValueError, "^logvar contains NaN or inf"),
    (bernoulli_log_likelihood, (_LOGITS[:, 0, 0], _P[:, 0, 0]), ValueError, "^logits must have"),
    (bernoulli_log_likelihood, (_LOGITS.long(), _P), TypeError, "^logits must be a floating"),
    (bernoulli_log_likelihood, (_LOGITS, _P.numpy()), TypeError, "^x must be a torch.Tensor"),
    (bernoulli_log_likelihood, (_LOGITS, _P[:3]), ValueError, "^x must have the shape of logits"),
    (bernoulli_log_likelihood, (_LOGITS, _P.to(_META)), ValueError, _one_device("logits", "x")),
    (bernoulli_log_likelihood, (_with(_LOGITS, -math.inf), _P), ValueError, "^logits contains"),
    (bernoulli_log_likelihood, (_LOGITS, _with(_P, _NAN)), ValueError, r"^x must be .* \[0, 1\]"),
    (bernoulli_log_likelihood, (_LOGITS, _P + 1), ValueError, r"^x must be .* \[0, 1\]"),
    (converged, ({"val_elbo": 1.0}, 1, 0.1), TypeError, "^history must be a sequence"),
    (converged, ([], 0, 0.1), ValueError, "^patience must be an int >= 1"),
    (converged, ([], 1, -0.1), ValueError, "^tolerance must be in"),
    (held_out_gain, ({"val_elbo": 1.0}, 1), TypeError, "^history must be a sequence"),
    (held_out_gain, ([], 0), ValueError, "^epochs must be an int >= 1"),
    (build_vae, (-1,), ValueError, "^init_seed must be an int in"),
    (build_vae, (1.0,), TypeError, "^init_seed must be an int"),
    (_method("encode"), (_X.tolist(),), TypeError, "^x must be a torch.Tensor"),
    (_method("encode"), (_X[:, :, :, :24],), ValueError, r"^x must have shape \(B, 1, 28, 28\)"),
    (_method("encode"), (_X.to(_META),), ValueError, "^x is on meta but the model is on cpu"),
    (_method("encode"), (_X.double(),), TypeError, "^x must be torch.float32 like the model"),
    (_method("encode"), (_NAN_X,), ValueError, "^x must be finite and in"),
    (_method("decoder_input"), (_Z.long(), _Y[:3]), TypeError, "^z must be a floating-point"),
    (
        _method("decoder_input"),
        (_Z[:, :4], _Y[:3]),
        ValueError,
        rf"^z must have shape \(B, {L + M}",
    ),
    (_method("decoder_input"), (_Z.to(_META), _Y[:3]), ValueError, "^z is on meta"),
    (_method("decoder_input"), (_Z.double(), _Y[:3]), TypeError, "^z must be torch.float32"),
    (_method("decoder_input"), (_with(_Z, _NAN), _Y[:3]), ValueError, "^z contains NaN"),
    (_method("decoder_input"), (_Z, None), ValueError, r"^y must be labels of shape \(3,\)"),
    (_method("decoder_input"), (_Z, _Y[:3].float()), TypeError, "^y must be an integer tensor"),
    (_method("decoder_input"), (_Z, _Y[:2]), ValueError, r"^y must have shape \(3,\)"),
    (_method("decoder_input"), (_Z, _Y[:3].to(_META)), ValueError, "^y is on meta"),
    (_method("decoder_input"), (_Z, _Y[:3] + K), ValueError, rf"^y must be in \[0, {K}\)"),
    (_method("decode"), (_Z, _Y[:3] - K), ValueError, rf"^y must be in \[0, {K}\)"),
    (_method("forward"), (_X, _Y + 1, _gen(0)), ValueError, rf"^y must be in \[0, {K}\)"),
    (_method("forward"), (_X, _Y[:5], _gen(0)), ValueError, r"^y must have shape \(6,\)"),
    (_method("forward"), (_X, _Y.to(_META), _gen(0)), ValueError, "^y is on meta"),
    (_method("forward"), (_X + 1, _Y, _gen(0)), ValueError, "^x must be finite and in"),
    (_method("forward"), (_X, _Y, 0), TypeError, "^generator must be a torch.Generator"),
    (_method("sample"), (_Y, None), TypeError, "^generator must be a torch.Generator"),
    (_method("sample"), (_Y.float(), _gen(0)), TypeError, "^labels must be an integer tensor"),
    (_method("sample"), (_Y.to(_META), _gen(0)), ValueError, "^labels is on meta"),
    (_method("sample"), (_Y - 1, _gen(0)), ValueError, rf"^labels must be in \[0, {K}\)"),
]


@pytest.mark.parametrize(
    ("function", "args", "error", "pattern"),
    [
        pytest.param(*row, id=f"{getattr(row[0], '__name__', 'method')}-{i}")
        for i, row in enumerate(_BAD_CALLS)
    ],
)
def test_functions_and_methods_reject_bad_arguments(
    function, args: tuple, error: type, pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        function(*args)


_BASE_Z, _VALUES = torch.zeros(L + M), torch.linspace(-1, 1, 3)


@pytest.mark.parametrize(
    ("override", "error", "pattern"),
    [
        ({"model": "nvae"}, TypeError, "^model must be a LatentVAE"),
        ({"base_z": _BASE_Z.tolist()}, TypeError, "^base_z must be a torch.Tensor"),
        ({"base_z": _BASE_Z.long()}, TypeError, "^base_z must be a floating-point"),
        ({"base_z": _BASE_Z[1:]}, ValueError, rf"^base_z must have shape \({L + M},\)"),
        ({"base_z": _BASE_Z.to(_META)}, ValueError, "^base_z is on meta"),
        ({"base_z": _with(_BASE_Z, _NAN)}, ValueError, "^base_z contains NaN"),
        ({"dim": 1.0}, TypeError, "^dim must be an int"),
        ({"dim": -1}, ValueError, rf"^dim must be an int in \[0, {L + M - 1}\]"),
        ({"dim": L + M}, ValueError, rf"^dim must be an int in \[0, {L + M - 1}\]"),
        ({"values": _VALUES[:, None]}, ValueError, "^values must have 1 dimensions"),
        ({"values": _VALUES.long()}, TypeError, "^values must be a floating-point"),
        ({"values": _VALUES.to(_META)}, ValueError, "^values is on meta"),
        ({"values": _with(_VALUES, math.inf)}, ValueError, "^values contains NaN or inf"),
        ({"classes": []}, ValueError, "^classes must not be empty"),
        ({"classes": 1}, TypeError, "^classes must be a sequence"),
        ({"classes": [0.0]}, TypeError, "^classes must be an int"),
        ({"classes": [True]}, TypeError, "^classes must be an int"),
        ({"classes": [K]}, ValueError, rf"^classes must be an int in \[0, {K - 1}\]"),
    ],
)
def test_traversal_rejects_bad_arguments(override: dict, error: type, pattern: str) -> None:
    kwargs = {"model": _model(hidden=8), "base_z": _BASE_Z, "dim": 0, "values": _VALUES}
    with pytest.raises(error, match=pattern):
        traversal(**(kwargs | {"classes": [0, 1]} | override))


@pytest.mark.parametrize(
    ("image_shape", "error"),
    [
        (28, TypeError),
        ("1x28", TypeError),
        ((1, 28.0, 28), TypeError),
        ((1, 28, 28, 1), ValueError),
    ],
)
def test_bad_image_shapes(image_shape: object, error: type) -> None:
    with pytest.raises(error, match=r"^image_shape"):
        LatentVAE("nvae", image_shape=image_shape)


def test_numpy_integers_are_accepted_and_stored_as_ints() -> None:
    model = LatentVAE("nvae", classes=np.int64(3))
    assert model.config["classes"] == 3 and type(model.config["classes"]) is int
    shape = tuple(np.int64(s) for s in (1, 12, 8))
    assert LatentVAE("vae", image_shape=shape).config["image_shape"] == [1, 12, 8]
