"""The reference autoencoder, the resumable trainer, and backbone files."""

import json

import pytest
import torch

from toposhape.autoencoder import BlockDiagonalLinear, ConnectivityAutoencoder
from toposhape.training import (
    TrainConfig,
    load_backbone,
    save_backbone,
    train_autoencoder,
    train_backbone,
)


@pytest.mark.parametrize(("channels", "size"), [(3, 32), (1, 28), (1, 17)])
def test_shapes_round_trip(channels: int, size: int) -> None:
    model = ConnectivityAutoencoder(channels, size, branches=4, branch_dim=3)
    x = torch.rand(5, channels, size, size)
    reconstruction, z = model(x)
    assert reconstruction.shape == x.shape
    assert z.shape == (5, 12)


def test_branches_are_independent() -> None:
    torch.manual_seed(0)
    model = ConnectivityAutoencoder(1, 28, branches=16, branch_dim=10)
    features = torch.randn(2, model.to_latent.in_features, requires_grad=True)
    z = model.to_latent(features)
    (grad,) = torch.autograd.grad(z[:, :10].sum(), features)
    per_block = model.to_latent.in_features // 16
    assert grad[:, per_block:].abs().max() == 0  # branch 0 sees only its own slice
    assert grad[:, :per_block].abs().max() > 0


def test_bad_architecture_arguments() -> None:
    with pytest.raises(ValueError, match="branches"):
        ConnectivityAutoencoder(branches=0)
    with pytest.raises(ValueError, match="divisible by blocks=3"):
        BlockDiagonalLinear(10, 9, 3)


def _train(tmp_path, epochs: int, checkpoint=None) -> ConnectivityAutoencoder:
    torch.manual_seed(1)
    model = ConnectivityAutoencoder(1, 12, branches=2, branch_dim=3, widths=(4, 4, 8))
    images = torch.rand(64, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    config = TrainConfig(epochs=epochs, batch_size=16, lam=5.0, seed=3)
    train_autoencoder(model, images, config, checkpoint=checkpoint, progress=False)
    return model


def test_resume_gives_identical_weights(tmp_path) -> None:
    reference = _train(tmp_path, epochs=3)
    checkpoint = tmp_path / "ckpt.pt"
    # "Interrupted" after epoch 2: a run configured for 3 epochs reads that checkpoint.
    torch.manual_seed(1)
    partial = ConnectivityAutoencoder(1, 12, branches=2, branch_dim=3, widths=(4, 4, 8))
    images = torch.rand(64, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    cfg3 = TrainConfig(epochs=3, batch_size=16, lam=5.0, seed=3)
    state_after_2 = _train(tmp_path, epochs=2, checkpoint=checkpoint)
    saved = torch.load(checkpoint, weights_only=True)
    saved["config"] = {**saved["config"], "epochs": 3}
    torch.save(saved, checkpoint)
    history = train_autoencoder(partial, images, cfg3, checkpoint=checkpoint, progress=False)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for name, value in reference.state_dict().items():
        assert torch.equal(value, partial.state_dict()[name]), name
    assert any(
        not torch.equal(v, state_after_2.state_dict()[k]) for k, v in reference.state_dict().items()
    )


def test_checkpoint_from_other_config_is_refused(tmp_path) -> None:
    checkpoint = tmp_path / "ckpt.pt"
    _train(tmp_path, epochs=1, checkpoint=checkpoint)
    model = ConnectivityAutoencoder(1, 12, branches=2, branch_dim=3, widths=(4, 4, 8))
    images = torch.rand(64, 1, 12, 12)
    with pytest.raises(ValueError, match="was written with config"):
        train_autoencoder(model, images, TrainConfig(epochs=1, batch_size=16, lam=1.0), checkpoint)


def test_connectivity_training_moves_deaths_to_eta(tmp_path) -> None:
    torch.manual_seed(0)
    model = ConnectivityAutoencoder(1, 12, branches=2, branch_dim=3, widths=(4, 4, 8))
    images = torch.rand(200, 1, 12, 12)
    history = train_autoencoder(
        model, images, TrainConfig(epochs=10, batch_size=50, lam=1.0, lr=1e-2), progress=False
    )
    assert abs(history[-1]["death_mean"] - 2.0) < 0.2 * abs(history[0]["death_mean"] - 2.0)


def test_backbone_round_trip_and_mismatch(tmp_path) -> None:
    model = ConnectivityAutoencoder(1, 28, branches=4, branch_dim=5)
    save_backbone(model, tmp_path / "backbone")
    loaded = load_backbone(tmp_path / "backbone")
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(loaded.encode(x), model.eval().encode(x))
    config = json.loads((tmp_path / "backbone.json").read_text())
    (tmp_path / "backbone.json").write_text(json.dumps({**config, "branch_dim": 6}))
    with pytest.raises(ValueError, match="do not fit"):
        load_backbone(tmp_path / "backbone")
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        load_backbone(tmp_path / "missing")


def test_bad_train_config() -> None:
    with pytest.raises(ValueError, match="lam"):
        TrainConfig(lam=-1.0)
    for field in ("lam", "eta", "lr"):
        for bad in (float("nan"), float("inf")):
            with pytest.raises(ValueError, match=rf"TrainConfig\.{field} must be finite"):
                TrainConfig(**{field: bad})
    with pytest.raises(TypeError, match=r"TrainConfig\.eta must be a number"):
        TrainConfig(eta="2")
    with pytest.raises(ValueError, match="p must be >= 1"):
        TrainConfig(p=0.5)
    with pytest.raises(ValueError, match="p must be >= 1"):
        TrainConfig(p=float("nan"))
    assert TrainConfig(p=float("inf")).p == float("inf")  # the ℓ∞ metric is allowed
    model = ConnectivityAutoencoder(1, 12, branches=1, branch_dim=2, widths=(4, 4, 8))
    with pytest.raises(ValueError, match="fewer than batch_size"):
        train_autoencoder(model, torch.rand(5, 1, 12, 12), TrainConfig(batch_size=10))


def test_train_backbone_reads_the_architecture_from_the_images() -> None:
    images = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(epochs=1, batch_size=20, lam=1.0, seed=0)
    before = torch.random.get_rng_state()
    a, history = train_backbone(
        images, config, branches=2, branch_dim=3, init_seed=5, progress=False
    )
    assert torch.equal(torch.random.get_rng_state(), before)  # global RNG left alone
    assert a.config["in_channels"] == 3 and a.config["image_size"] == 16
    assert len(history) == 1 and not a.training
    b, _ = train_backbone(images, config, branches=2, branch_dim=3, init_seed=5, progress=False)
    c, _ = train_backbone(images, config, branches=2, branch_dim=3, init_seed=6, progress=False)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_train_backbone_rejects_non_square_images() -> None:
    config = TrainConfig(epochs=1, batch_size=2)
    with pytest.raises(ValueError, match=r"\(N, C, S, S\)"):
        train_backbone(torch.rand(4, 1, 12, 10), config, progress=False)


def test_backbone_files_never_clobber_a_checkpoint(tmp_path) -> None:
    model = _train(tmp_path, epochs=1, checkpoint=tmp_path / "net.pt")
    before = (tmp_path / "net.pt").read_bytes()
    save_backbone(model, tmp_path / "net.backbone")  # a dotted stem, not a suffix to replace
    assert (tmp_path / "net.pt").read_bytes() == before
    assert (tmp_path / "net.backbone.pt").is_file() and (tmp_path / "net.backbone.json").is_file()
    reloaded = load_backbone(tmp_path / "net.backbone")
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), reloaded.state_dict().values(), strict=True)
    )


def test_a_backbone_is_not_accepted_as_a_checkpoint(tmp_path) -> None:
    model = _train(tmp_path, epochs=1)
    save_backbone(model, tmp_path / "net")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        _train(tmp_path, epochs=1, checkpoint=tmp_path / "net.pt")


def test_seeded_draws_depend_on_the_seed_only_and_restore_the_global_rng():
    from toposhape.training import seeded

    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with seeded(7):
        a = torch.rand(3)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.rand(5)  # move the global RNG on: seeded draws must not notice
    with seeded(7):
        b = torch.rand(3)
    with seeded(8):
        c = torch.rand(3)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_on_epoch_numbers_join_the_history_and_survive_a_resume(tmp_path) -> None:
    from toposhape.training import fit_epochs, history_seconds

    weight = torch.nn.Parameter(torch.zeros(()))
    optimiser = torch.optim.SGD([weight], lr=0.1)
    state = {"opt": optimiser}
    checkpoint = tmp_path / "ckpt.pt"

    def step(indices: torch.Tensor, _: torch.Generator) -> dict[str, float]:
        optimiser.zero_grad()
        loss = (weight - 1.0) ** 2
        loss.backward()
        optimiser.step()
        return {"loss": float(loss.detach())}

    def fit(epochs: int, seen: list[int]) -> list[dict]:
        def on_epoch(epoch: int) -> dict[str, float]:
            seen.append(epoch)
            return {"weight": float(weight.detach())}

        return fit_epochs(
            8, step, state, epochs=epochs, batch_size=4, seed=0, config={"run": 1},
            checkpoint=checkpoint, progress=False, on_epoch=on_epoch,
        )  # fmt: skip

    first: list[int] = []
    history = fit(2, first)
    first_seconds = [h["seconds"] for h in history]
    assert first == [1, 2]
    assert history[0]["weight"] == pytest.approx(1 - 0.8**2)  # two SGD steps on (w − 1)²
    assert history[1]["weight"] == pytest.approx(1 - 0.8**4)
    resumed: list[int] = []
    history = fit(3, resumed)  # resumes after epoch 2: the hook runs for epoch 3 only
    assert resumed == [3]
    # the training time of the epochs run before the resume is kept in the checkpoint
    assert [h["seconds"] for h in history[:2]] == first_seconds
    assert history_seconds(history) == pytest.approx(sum(first_seconds) + history[2]["seconds"])
    assert [round(h["weight"], 6) for h in history] == [
        round(1 - 0.8 ** (2 * e), 6) for e in (1, 2, 3)
    ]


def test_training_minimises_the_reference_reconstruction_l1(tmp_path) -> None:
    """The logged reconstruction term of an epoch is the per-image L1 sum, batch-averaged."""
    from toposhape.losses import RECONSTRUCTION

    torch.manual_seed(1)
    model = ConnectivityAutoencoder(1, 12, branches=2, branch_dim=3, widths=(4, 4, 8))
    images = torch.rand(32, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(epochs=1, batch_size=32, lam=0.0, lr=1e-12, seed=0)
    history = train_autoencoder(model, images, config, tmp_path / "c.pt", progress=False)
    model.load_state_dict(before)  # one step at lr 1e-12: the loss logged is that of `before`
    with torch.no_grad():
        rec, _ = model(images)
    expected = (rec - images).abs().sum(dim=(1, 2, 3)).mean().item()
    assert history[0]["reconstruction_l1"] == pytest.approx(expected, rel=1e-5)
    saved = torch.load(tmp_path / "c.pt", weights_only=True)
    assert saved["config"]["reconstruction"] == RECONSTRUCTION
