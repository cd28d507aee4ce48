"""Benchmark the connectivity loss's overhead in a full training step, and how to run it.

One step of the reference autoencoder (``ConnectivityAutoencoder(in_channels=3,
image_size=32, branches=16, branch_dim=10)``) on a batch of 100 random
32×32×3 images (standard normal; the step time does not depend on the pixel
values): forward, L1 reconstruction loss (summed per image, batch mean), backward,
Adam step (lr 1e-3). With λ = 20 the loss adds ``λ · connectivity_loss(z, eta=2.0,
branches=16, p=1.0)``; with λ = 0 that term is not computed at all (a plain
autoencoder). The two steps, each with its own model and optimiser from the same
seed, are timed in interleaved rounds; the target is a step-time ratio below 1.3.

In the same rounds, the λ = 20 step also runs with weights and batch in
``channels_last`` memory format (what :func:`toposhape.training.train_autoencoder`
uses) and with the model under ``torch.compile``; their ratios to the eager
contiguous step say which way of running the step is fastest on the device.

Run ``python -m benchmarks.bench_train_step --help`` for the options.
"""

from collections.abc import Callable
from typing import Any

import torch

from benchmarks.common import Benchmark, format_table, time_interleaved
from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.losses import connectivity_loss, reconstruction_l1

BATCH = 100
IMAGE_SIZE = 32
CHANNELS = 3
BRANCHES = 16
BRANCH_DIM = 10
LR = 1e-3
ETA = 2.0
P = 1.0
LAMBDAS = (0.0, 20.0)
TARGET_RATIO = 1.3
SEED = 0


#: Ways of running the λ = 20 step, compared with the eager contiguous one.
VARIANTS = ("channels_last", "compiled")


def train_step(x: torch.Tensor, lam: float, variant: str = "eager") -> Callable[[], float]:
    """A closure doing one training step of a fresh model (seeded) on batch ``x``.

    Parameters
    ----------
    x : Tensor, shape (BATCH, CHANNELS, IMAGE_SIZE, IMAGE_SIZE)
    lam : float
        Weight of the connectivity loss; 0 leaves it out of the step.
    variant : {"eager", "channels_last", "compiled"}
        Eager with contiguous tensors, eager in channels-last memory format, or the model
        under ``torch.compile``.
    """
    if variant not in ("eager", *VARIANTS):
        raise ValueError(f"variant must be 'eager' or one of {VARIANTS}, got {variant!r}")
    torch.manual_seed(SEED)
    model = ConnectivityAutoencoder(CHANNELS, IMAGE_SIZE, BRANCHES, BRANCH_DIM).to(x.device)
    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(model.parameters(), lr=LR)
    forward = torch.compile(model) if variant == "compiled" else model

    def step() -> float:
        optimiser.zero_grad(set_to_none=True)
        reconstruction, z = forward(x)
        loss = reconstruction_l1(reconstruction, x)
        if lam > 0:
            loss = loss + lam * connectivity_loss(z, eta=ETA, branches=BRANCHES, p=P)
        loss.backward()
        optimiser.step()
        return float(loss.detach())

    return step


def bench_device(device: torch.device, repeats: int, budget_s: float) -> dict[str, Any]:
    """Time the steps with each λ on ``device``; returns the JSON record (no provenance)."""
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(BATCH, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, generator=generator).to(device)
    steps = {f"lambda={lam:g}": train_step(x, lam) for lam in LAMBDAS}
    steps |= {f"lambda=20 {v}": train_step(x, 20.0, v) for v in VARIANTS}
    timings = time_interleaved(steps, device, repeats, budget_s, warmup=3)
    plain, with_loss = (timings[f"lambda={lam:g}"].median_ms for lam in LAMBDAS)
    ratio = with_loss / plain
    return {
        "device": str(device),
        "setup": {
            "batch": BATCH,
            "input": [CHANNELS, IMAGE_SIZE, IMAGE_SIZE],
            "inputs": "random (standard normal)",
            "branches": BRANCHES,
            "branch_dim": BRANCH_DIM,
            "lr": LR,
            "eta": ETA,
            "p": P,
        },
        "timings": {name: t.to_dict() for name, t in timings.items()},
        "ratio": ratio,
        "target": {"ratio_below": TARGET_RATIO, "met": ratio < TARGET_RATIO},
        "variant_over_eager": {
            v: timings[f"lambda=20 {v}"].median_ms / with_loss for v in VARIANTS
        },
        "threads": torch.get_num_threads(),
    }


def table(record: dict[str, Any]) -> str:
    """The step-time table of one device's record."""
    rows = [
        [name, t["median_ms"], t["iqr_ms"], t["repeats"]] for name, t in record["timings"].items()
    ]
    verdict = "MET" if record["target"]["met"] else "MISSED"
    return "\n".join(
        [
            f"training step (batch {BATCH}, {CHANNELS}x{IMAGE_SIZE}x{IMAGE_SIZE}) on "
            f"{record['device']}",
            format_table(["step", "median ms", "IQR ms", "runs"], rows),
            f"ratio lambda=20 / lambda=0: {record['ratio']:.3f} "
            f"(target < {TARGET_RATIO}: {verdict})",
            *(
                f"lambda=20 {v} / eager: {r:.3f}"
                for v, r in record.get("variant_over_eager", {}).items()
            ),
        ]
    )


def summary(record: dict[str, Any]) -> list[list[object]]:
    """One row: the step-time ratio λ=20 / λ=0 against its target."""
    met = record["target"]["met"]
    return [
        [f"batch {BATCH}", "step lambda=20 / lambda=0", record["ratio"], f"< {TARGET_RATIO}", met]
    ]


BENCHMARK = Benchmark(
    name="train_step",
    description=__doc__.splitlines()[0],
    bench_device=bench_device,
    table=table,
    summary=summary,
    repeats=30,
    budget_s=15.0,
)

if __name__ == "__main__":
    BENCHMARK.main()
