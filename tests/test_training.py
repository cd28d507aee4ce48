"""The reference autoencoder, the resumable trainer, and backbone files."""

import hashlib
import json

import pytest
import torch

from toposhape.autoencoder import BlockDiagonalLinear, ConnectivityAutoencoder
from toposhape.training import (
    TrainConfig,
    checkpoint_epochs,
    fit_epochs,
    load_backbone,
    read_checkpoint,
    save_backbone,
    seeded,
    state_digest,
    tensor_digest,
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


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"branches": 0}, ValueError, "^branches must be an int >= 1"),
        ({"branch_dim": 2.0}, TypeError, "^branch_dim must be an int"),
        ({"image_size": 7}, ValueError, "^image_size must be an int >= 8"),
        ({"in_channels": True}, TypeError, "^in_channels must be an int"),
        ({"widths": (4, 4)}, TypeError, "^widths must be a sequence of 3 ints"),
        ({"widths": (4, 0, 4)}, ValueError, "^widths must be an int >= 1"),
    ],
)
def test_bad_architecture_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ConnectivityAutoencoder(**kwargs)


def test_bad_block_diagonal_arguments() -> None:
    with pytest.raises(ValueError, match="divisible by blocks=3"):
        BlockDiagonalLinear(10, 9, 3)
    with pytest.raises(ValueError, match=r"^blocks must be an int >= 1"):
        BlockDiagonalLinear(10, 9, 0)


def _model(branches: int = 2, branch_dim: int = 3, seed: int = 1) -> ConnectivityAutoencoder:
    with seeded(seed):
        return ConnectivityAutoencoder(1, 12, branches, branch_dim, widths=(4, 4, 8))


def _images(seed: int = 2) -> torch.Tensor:
    return torch.rand(64, 1, 12, 12, generator=torch.Generator().manual_seed(seed))


def _train(
    tmp_path, epochs: int, checkpoint=None, stop_after: int | None = None, **model_args
) -> ConnectivityAutoencoder:
    """Train the small model; ``stop_after=k`` interrupts the run in its k-th step."""
    model = _model(**model_args)
    if stop_after is not None:
        calls = 0

        def stop(_module: torch.nn.Module, _args: object) -> None:
            nonlocal calls
            calls += 1
            if calls == stop_after:
                raise KeyboardInterrupt

        hook = model.register_forward_pre_hook(stop)
    config = TrainConfig(epochs=epochs, batch_size=16, lam=5.0, seed=3)
    try:
        train_autoencoder(model, _images(), config, checkpoint=checkpoint, progress=False)
    except KeyboardInterrupt:
        hook.remove()
    return model


def test_resume_gives_identical_weights(tmp_path) -> None:
    reference = _train(tmp_path, epochs=3)
    checkpoint = tmp_path / "ckpt.pt"
    interrupted = _train(tmp_path, epochs=3, checkpoint=checkpoint, stop_after=4 * 2 + 2)
    assert checkpoint_epochs(checkpoint) == 2  # killed in the second step of epoch 3
    resumed = _train(tmp_path, epochs=3, checkpoint=checkpoint)
    assert checkpoint_epochs(checkpoint) == 3
    for name, value in reference.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[name]), name
    assert any(
        not torch.equal(v, interrupted.state_dict()[k]) for k, v in reference.state_dict().items()
    )


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"config": TrainConfig(epochs=1, batch_size=16, lam=1.0, seed=3)}, "config.lam"),
        ({"config": TrainConfig(epochs=1, batch_size=16, lam=5.0, seed=4)}, "loop.seed"),
        ({"images": _images(seed=9)}, "data"),
        ({"model": _model(seed=2)}, "state.model.initial_weights"),
        # same parameter shapes, another layout: 1 × 6 branches instead of 2 × 3
        ({"model": _model(branches=1, branch_dim=6)}, "state.model.config.branches"),
    ],
)
def test_checkpoint_of_another_run_is_refused_naming_the_difference(
    tmp_path, change: dict, differs: str
) -> None:
    checkpoint = tmp_path / "ckpt.pt"
    _train(tmp_path, epochs=1, checkpoint=checkpoint)
    run = {
        "model": _model(),
        "images": _images(),
        "config": TrainConfig(epochs=1, batch_size=16, lam=5.0, seed=3),
    } | change
    with pytest.raises(ValueError, match=rf"ckpt\.pt belongs to another run \(.*{differs}"):
        train_autoencoder(run["model"], run["images"], run["config"], checkpoint, progress=False)


def test_a_finished_checkpoint_of_another_run_is_not_returned(tmp_path) -> None:
    checkpoint = tmp_path / "ckpt.pt"
    _train(tmp_path, epochs=1, checkpoint=checkpoint)
    with pytest.raises(ValueError, match="belongs to another run"):
        _train(tmp_path, epochs=1, checkpoint=checkpoint, seed=5)


def _flip_bit(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def test_corrupt_truncated_or_empty_checkpoints_are_named_errors(tmp_path) -> None:
    checkpoint = tmp_path / "ckpt.pt"
    _train(tmp_path, epochs=1, checkpoint=checkpoint)
    good = checkpoint.read_bytes()
    # every flipped byte of the weights' region is caught, by the checksum or by the reader
    for offset in range(len(good) // 4, 3 * len(good) // 4, len(good) // 16):
        checkpoint.write_bytes(good)
        _flip_bit(checkpoint, offset)
        with pytest.raises(
            ValueError, match=r"ckpt\.pt .*(corrupt|unreadable).*start that run over"
        ):
            _train(tmp_path, epochs=1, checkpoint=checkpoint)
    checkpoint.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"ckpt\.pt is unreadable or truncated"):
        checkpoint_epochs(checkpoint)
    checkpoint.write_bytes(b"")
    with pytest.raises(ValueError, match=r"ckpt\.pt is empty"):
        _train(tmp_path, epochs=1, checkpoint=checkpoint)


def test_a_checkpoint_without_identity_is_refused(tmp_path) -> None:
    """Checkpoints of earlier versions held only the config: they cannot be verified."""
    checkpoint = tmp_path / "old.pt"
    model = _model()
    torch.save({"config": {}, "model": model.state_dict(), "history": "[]"}, checkpoint)
    with pytest.raises(ValueError, match=r"old\.pt was written by an earlier toposhape"):
        _train(tmp_path, epochs=1, checkpoint=checkpoint)


def test_checkpoint_records_the_run_identity(tmp_path) -> None:
    from toposhape.losses import RECONSTRUCTION

    checkpoint = tmp_path / "ckpt.pt"
    model = _train(tmp_path, epochs=1, checkpoint=checkpoint)
    saved = read_checkpoint(checkpoint)
    assert saved.identity["config"]["reconstruction"] == RECONSTRUCTION
    assert saved.identity["state"]["model"]["config"] == model.config
    assert saved.identity["state"]["optimiser"] == {
        "class": "Adam",
        "settings": {"lr": 1e-3, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0},
    }
    assert saved.identity["data"] == tensor_digest(_images())
    assert saved.identity["loop"] == {"batch_size": 16, "seed": 3, "steps_per_epoch": None}
    assert [h["epoch"] for h in saved.history] == [1]
    assert all(torch.equal(v, saved.state["model"][k]) for k, v in model.state_dict().items())


def test_tensor_digest_sees_values_dtype_and_shape_not_layout() -> None:
    x = torch.rand(4, 3, 5, 5)
    assert tensor_digest(x) == tensor_digest(x.contiguous(memory_format=torch.channels_last))
    assert tensor_digest(x) != tensor_digest(x.double())
    assert tensor_digest(x) != tensor_digest(x.reshape(4, 75))
    y = x.clone()
    y[3, 2, 4, 4] += 1e-6
    assert tensor_digest(x) != tensor_digest(y)
    assert tensor_digest(x, y) != tensor_digest(y, x)
    assert tensor_digest(torch.tensor(1.0)) != tensor_digest(torch.tensor(2.0))  # 0-dim
    assert tensor_digest(torch.tensor([True])) != tensor_digest(torch.tensor([False]))


def _fixed_module() -> torch.nn.Module:
    """A small module with fixed weights and buffers (float and int64, one of them 0-dim)."""
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        for i, tensor in enumerate(module.state_dict().values()):
            tensor.copy_(torch.arange(tensor.numel()).reshape(tensor.shape) + i)
    return module


def test_state_digest_is_the_sha256_of_the_state_entries_in_name_order() -> None:
    """The digest that records name weights by: an independent hashlib oracle and a pinned value.

    Committed records hold such digests, so its bytes must never change.
    """
    module = _fixed_module()
    state = module.state_dict()
    oracle = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name]
        oracle.update(f"{tensor.dtype}{tuple(tensor.shape)};".encode())
        oracle.update(tensor.contiguous().numpy().tobytes())
    assert state_digest(module) == oracle.hexdigest()
    assert state_digest(module) == tensor_digest(*(state[name] for name in sorted(state)))
    pinned = "378f6f5af419d7de51cea302df5fb08f5f078e37e716ede961e7faa23d6d95d1"
    assert state_digest(module) == pinned
    with torch.no_grad():
        module[1].running_var[0] += 1  # a buffer is part of the digest
    assert state_digest(module) != oracle.hexdigest()
    with pytest.raises(TypeError, match=r"^module must be a torch\.nn\.Module, got dict$"):
        state_digest(dict(state))


def test_until_stops_early_and_a_resumed_run_continues_under_a_laxer_rule(tmp_path) -> None:
    checkpoint = tmp_path / "ckpt.pt"
    asked: list[int] = []

    def fit(until):
        weight = torch.nn.Parameter(torch.zeros(()))  # each run starts from the same weights
        opt = torch.optim.SGD([weight], lr=0.1)

        def step(_indices, _generator):
            loss = (weight - 1.0) ** 2
            opt.zero_grad()
            loss.backward()
            opt.step()
            return {"loss": loss.detach()}

        state = {"w": torch.nn.ParameterList([weight]), "opt": opt}
        return fit_epochs(
            torch.zeros(8), step, state, epochs=10, batch_size=4, seed=0, config={},
            checkpoint=checkpoint, progress=False, until=until,
        )  # fmt: skip

    def after(n):
        return lambda history: asked.append(len(history)) or len(history) >= n

    assert len(fit(after(3))) == 3
    assert asked == [0, 1, 2, 3]  # asked before every epoch, and stops before the 4th
    assert checkpoint_epochs(checkpoint) == 3
    asked.clear()
    assert len(fit(after(3))) == 3 and asked == [3]  # a finished run trains nothing
    assert len(fit(after(5))) == 5  # the rule is not part of the identity: it resumes
    assert len(fit(None)) == 10  # without a rule, epochs is the number of epochs


def test_fit_epochs_rejects_bad_arguments() -> None:
    weight = torch.nn.Parameter(torch.zeros(()))
    state = {"opt": torch.optim.SGD([weight], lr=0.1)}

    def fit(data: object = None, **kwargs: object) -> list[dict]:
        data = torch.zeros(8) if data is None else data
        args = {"epochs": 1, "batch_size": 4, "seed": 0, "config": {}} | kwargs
        return fit_epochs(data, lambda *_: {}, state, progress=False, **args)

    with pytest.raises(TypeError, match=r"^data must be a sequence"):
        fit(8)
    with pytest.raises(ValueError, match=r"^data must not be empty"):
        fit([])
    with pytest.raises(TypeError, match=r"^data must be a tensor or a sequence of tensors"):
        fit([torch.zeros(8), 3])
    callable_ = r"^step \(and on_epoch and until, when given\) must be callable"
    with pytest.raises(TypeError, match=callable_):
        fit_epochs(torch.zeros(8), None, state, epochs=1, batch_size=4, seed=0, config={})
    with pytest.raises(TypeError, match=callable_):
        fit(until=3)
    with pytest.raises(TypeError, match=r"^state must map names to modules and optimisers"):
        fit_epochs(
            torch.zeros(8), lambda *_: {}, {"w": weight}, epochs=1, batch_size=4, seed=0, config={}
        )
    with pytest.raises(ValueError, match=r"^seed must be an int in \[0, 4294967295\]"):
        fit(seed=-1)
    with pytest.raises(TypeError, match=r"^checkpoint must be a path or None"):
        fit(checkpoint=3)
    with pytest.raises(TypeError, match=r"config and the models' configs must be JSON data"):
        fit(config={"f": object()})
    with pytest.raises(ValueError, match=r"^data tensors differ in length"):
        fit((torch.zeros(8), torch.zeros(7)))
    with pytest.raises(TypeError, match=r"^epochs must be an int"):
        fit(epochs=1.0)
    with pytest.raises(ValueError, match=r"^batch_size must be an int >= 1"):
        fit(batch_size=0)
    with pytest.raises(ValueError, match=r"^steps_per_epoch must be an int >= 1"):
        fit(steps_per_epoch=0)
    with pytest.raises(ValueError, match="fewer than batch_size=16"):
        fit(batch_size=16)


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
    record_file = tmp_path / "backbone.json"
    record = json.loads(record_file.read_text())
    assert record["model"] == model.config
    record_file.write_text(json.dumps({**record, "model": {**model.config, "branch_dim": 6}}))
    with pytest.raises(ValueError, match="do not fit"):
        load_backbone(tmp_path / "backbone")
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        load_backbone(tmp_path / "missing")


def test_corrupt_backbone_files_are_named_errors(tmp_path) -> None:
    model = ConnectivityAutoencoder(1, 12, branches=2, branch_dim=3, widths=(4, 4, 8))
    save_backbone(model, tmp_path / "net")
    weights, record = tmp_path / "net.pt", tmp_path / "net.json"
    good = record.read_text()
    record.write_text(good[:-10])
    with pytest.raises(ValueError, match=r"net\.json is not valid JSON"):
        load_backbone(tmp_path / "net")
    record.write_text(json.dumps(model.config))  # a bare config, as earlier versions wrote
    with pytest.raises(ValueError, match=r"net\.json is not a toposhape-backbone/2 record"):
        load_backbone(tmp_path / "net")
    record.write_text(json.dumps({**json.loads(good), "model": {"branches": 2}}))
    with pytest.raises(ValueError, match=r"net\.json does not describe a ConnectivityAutoencoder"):
        load_backbone(tmp_path / "net")
    record.write_text(good)
    _flip_bit(weights, len(weights.read_bytes()) // 2)
    with pytest.raises(ValueError, match=r"net\.pt do not match the sha256 in .*net\.json"):
        load_backbone(tmp_path / "net")


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
    with pytest.raises(TypeError, match=r"^TrainConfig\.epochs must be an int"):
        TrainConfig(epochs=1.5)
    with pytest.raises(ValueError, match=r"^TrainConfig\.batch_size must be an int >= 2"):
        TrainConfig(batch_size=1)
    with pytest.raises(ValueError, match=r"^TrainConfig\.steps_per_epoch must be an int >= 1"):
        TrainConfig(steps_per_epoch=0)
    with pytest.raises(TypeError, match=r"^TrainConfig\.seed must be an int"):
        TrainConfig(seed="0")
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
    with pytest.raises(ValueError, match="not a toposhape training checkpoint"):
        _train(tmp_path, epochs=1, checkpoint=tmp_path / "net.pt")


def test_seeded_draws_depend_on_the_seed_only_and_restore_the_global_rng():

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
    from toposhape.training import history_seconds

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
            torch.zeros(8), step, state, epochs=epochs, batch_size=4, seed=0, config={"run": 1},
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
    assert read_checkpoint(tmp_path / "c.pt").identity["config"]["reconstruction"] == RECONSTRUCTION
