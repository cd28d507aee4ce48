"""Benchmark the batched SimCLR augmentation against per-image torchvision calls.

For MNIST-size (1×28×28) and CIFAR-size (3×32×32) images, a batch of 128 (the
batch of the contrastive chapter's runs; a training step augments it twice, once
per view) is augmented, in the same interleaved rounds, by

* ``kornia (batched)``: :func:`toposhape.contrastive.augment_batch` with
  :func:`toposhape.contrastive.simclr_augment`, every image's parameters drawn in
  one batched call;
* the peer, ``torchvision v2 (per image)``: the same SimCLR augmentation as
  torchvision v2 transforms (``RandomResizedCrop(S, scale=(0.2, 1.0))``, then
  ``RandomApply([ColorJitter(0.4, 0.4[, 0.4, 0.1])], p=0.8)`` and for 3 channels
  ``RandomGrayscale(p=0.2)``), called image by image under the same seeding —
  how the project augmented before it used kornia.

Both run with torch on one intra-op thread (the training runs set
``OMP_NUM_THREADS=1``, and the per-image calls always ran on one); the thread count
is restored afterwards. The images are uniform random in [0, 1] (seed 0; the time
does not depend on the pixel values). Before timing, both outputs are checked to be
float images of shape (128, C, S, S) in [0, 1]. The target is *peer / kornia* above 1.

Run ``python -m benchmarks.bench_augment --help`` for the options.
"""

from collections.abc import Callable
from typing import Any

import torch
from torchvision.transforms import v2

from benchmarks.common import Benchmark, format_table, time_interleaved
from toposhape.contrastive import augment_batch, simclr_augment
from toposhape.training import seeded

BATCH = 128
THREADS = 1
SEED = 0
#: (name, channels, side S): the images are (C, S, S) and augmented to (C, S, S).
CASES = (("MNIST-size 1x28x28", 1, 28), ("CIFAR-size 3x32x32", 3, 32))
OURS = "kornia (batched)"
PEER = "torchvision v2 (per image)"
TARGET_RATIO = 1.0
#: Slack of the [0, 1] check of the outputs (float rounding of the jitter).
TOLERANCE = 1e-6


def per_image_augment(image_size: int, channels: int) -> v2.Compose:
    """The peer: the SimCLR augmentation of :func:`simclr_augment` as torchvision v2 steps.

    Parameters
    ----------
    image_size : int
        Side S of the output (S, S).
    channels : {1, 3}
        For 1 channel the jitter is brightness and contrast only and there is no
        grayscale step, as in :func:`simclr_augment`.

    Returns
    -------
    torchvision.transforms.v2.Compose
        Maps one float image (C, H, W) in [0, 1] to a float image (C, S, S) in [0, 1].
    """
    crop = v2.RandomResizedCrop(image_size, scale=(0.2, 1.0))
    if channels == 1:
        return v2.Compose([crop, v2.RandomApply([v2.ColorJitter(0.4, 0.4)], p=0.8)])
    return v2.Compose(
        [
            crop,
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
        ]
    )


def augment_per_image(
    x: torch.Tensor, transform: v2.Compose, generator: torch.Generator
) -> torch.Tensor:
    """The peer's batch: ``transform`` image by image, seeded as :func:`augment_batch` seeds.

    Parameters
    ----------
    x : Tensor, shape (B, C, H, W)
    transform : torchvision.transforms.v2.Compose
        A per-image transform, :func:`per_image_augment`.
    generator : torch.Generator
        CPU generator; one draw seeds the whole batch.

    Returns
    -------
    Tensor, shape (B, C, S, S)
    """
    seed = int(torch.randint(2**62, (1,), generator=generator))
    with seeded(seed):
        return torch.stack([transform(image) for image in x])


def methods(x: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    """The timed calls on the batch ``x`` (B, C, S, S), each with its own seeded generator."""
    channels, side = x.shape[1], x.shape[-1]
    ours, peer = simclr_augment(side, channels), per_image_augment(side, channels)
    ours_gen = torch.Generator().manual_seed(SEED)
    peer_gen = torch.Generator().manual_seed(SEED)
    return {
        OURS: lambda: augment_batch(x, ours, ours_gen),
        PEER: lambda: augment_per_image(x, peer, peer_gen),
    }


def check_outputs(fns: dict[str, Callable[[], torch.Tensor]], x: torch.Tensor) -> None:
    """Raise ``RuntimeError`` unless every method returns float images shaped as ``x`` in [0, 1].

    The range is checked up to ``TOLERANCE``.
    """
    for name, fn in fns.items():
        out = fn()
        if out.shape != x.shape or not out.is_floating_point():
            raise RuntimeError(
                f"{name} returned {out.dtype} images of shape {tuple(out.shape)}, "
                f"expected float images of shape {tuple(x.shape)}"
            )
        low, high = float(out.min()), float(out.max())
        if low < -TOLERANCE or high > 1.0 + TOLERANCE:
            raise RuntimeError(f"{name} returned values in [{low}, {high}], expected [0, 1]")


def bench_case(
    name: str, channels: int, side: int, device: torch.device, repeats: int, budget_s: float
) -> dict[str, Any]:
    """Check and time one image size; returns its JSON record."""
    generator = torch.Generator().manual_seed(SEED)
    x = torch.rand(BATCH, channels, side, side, generator=generator).to(device)
    fns = methods(x)
    check_outputs(fns, x)
    print(f"{device.type} {name}: timing {len(fns)} methods", flush=True)
    timings = time_interleaved(fns, device, repeats, budget_s)
    return {
        "name": name,
        "batch": BATCH,
        "input": [channels, side, side],
        "timings": {method: t.to_dict() for method, t in timings.items()},
        "peer_over_ours": timings[PEER].median_ms / timings[OURS].median_ms,
    }


def bench_device(device: torch.device, repeats: int, budget_s: float) -> dict[str, Any]:
    """Both image sizes on ``device`` at ``THREADS`` threads; returns the JSON record."""
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        cases = [bench_case(*case, device, repeats, budget_s) for case in CASES]
    finally:
        torch.set_num_threads(threads)
    return {
        "device": str(device),
        "threads": THREADS,
        "inputs": f"uniform random in [0, 1] (seed {SEED})",
        "cases": cases,
        "target": {
            "peer_over_ours_above": TARGET_RATIO,
            "met": all(c["peer_over_ours"] > TARGET_RATIO for c in cases),
        },
    }


def table(record: dict[str, Any]) -> str:
    """The per-method table of one device's record."""
    rows = [
        [
            c["name"],
            method,
            t["median_ms"],
            t["iqr_ms"],
            t["repeats"],
            c["peer_over_ours"] if method == PEER else None,
        ]
        for c in record["cases"]
        for method, t in c["timings"].items()
    ]
    headers = ["case", "method", "median ms", "IQR ms", "runs", "peer/ours"]
    verdict = "MET" if record["target"]["met"] else "MISSED"
    return "\n".join(
        [
            f"SimCLR augmentation of a batch of {BATCH} on {record['device']}, "
            f"{record['threads']} thread(s)",
            format_table(headers, rows),
            f"peer / ours > {TARGET_RATIO:g} in every case: {verdict}",
        ]
    )


def summary(record: dict[str, Any]) -> list[list[object]]:
    """Per case: the peer's time over ours (target > 1)."""
    return [
        [
            c["name"],
            "peer / ours",
            c["peer_over_ours"],
            f"> {TARGET_RATIO:g}",
            c["peer_over_ours"] > TARGET_RATIO,
        ]
        for c in record["cases"]
    ]


BENCHMARK = Benchmark(
    name="augment",
    description=__doc__.splitlines()[0],
    bench_device=bench_device,
    table=table,
    summary=summary,
    repeats=30,
    budget_s=10.0,
)

if __name__ == "__main__":
    BENCHMARK.main()
