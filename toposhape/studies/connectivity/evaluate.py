"""What the chapter measures on one trained backbone.

:func:`evaluate_backbone` encodes the test (and training) images and returns the test
reconstruction error, the held-out death times at the backbone's own batch size (their
spread and how far they stay from η: the reachable connectivity loss) and the calibrated
radius of each branch, the partial covering numbers of the training codes (:mod:`.covering`,
λ = 20 backbones only), the one-class AUROCs of the ball score at η and at the calibrated
radii (the one-class study's :func:`~toposhape.studies.oneclass.evaluate.ball_aurocs`), on
MNIST and on the transfer datasets (MNIST backbone, another dataset's codes), and the
densification counts (:mod:`.densify`).
"""

from collections.abc import Mapping
from typing import Any

import torch

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.image_sets import ImageSplit
from toposhape.oneclass import encode
from toposhape.studies.connectivity.backbones import RECIPE
from toposhape.studies.connectivity.covering import covering_numbers
from toposhape.studies.connectivity.deaths import (
    branch_radii,
    death_quantiles,
    death_summary,
    heldout_deaths,
)
from toposhape.studies.connectivity.densify import inlier_counts
from toposhape.studies.oneclass.evaluate import ball_aurocs
from toposhape.studies.oneclass.protocol import BackboneSpec


@torch.no_grad()
def reconstruction_l1(
    model: ConnectivityAutoencoder, images: torch.Tensor, chunk: int = 500
) -> float:
    """L1 reconstruction error as trained on: summed over each image's pixels, mean over images.

    ``images`` are uint8 (N, C, H, W), N ≥ 1, of the model's shape.
    """
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, len(images), chunk):
        batch = images[start : start + chunk].to(device).float().div_(255.0)
        reconstruction, _ = model(batch)
        total += float((reconstruction - batch).abs().sum())
    return total / len(images)


def evaluate_backbone(
    model: ConnectivityAutoencoder,
    spec: BackboneSpec,
    splits: Mapping[str, ImageSplit],
    settings: Mapping[str, Any],
    seed: int,
    latent: bool,
    progress: bool = False,
) -> dict[str, Any]:
    """Every number the chapter reads off one backbone.

    Parameters
    ----------
    model : ConnectivityAutoencoder
        Trained, on any device.
    spec : BackboneSpec
        Its training setting; its batch size is the size of the held-out batches.
    splits : mapping
        The profile's splits (uint8 images): "train" and "test" of MNIST, and
        "<name>/train", "<name>/test" of each dataset ``name`` of ``settings["transfer"]``.
    settings : mapping
        The profile's settings (``ns``, ``draws``, ``covering_sizes``, ``densify_ns``,
        ``purity_n``, ``transfer``, ``latent_points``).
    seed : int
        Seeds the one-class draws (as the one-class study's, the same for every backbone).
        The held-out batches, the covering order and the densification draws are seeded by
        the backbone's training seed, so the two λ of a seed share them and the spread over
        seeds includes theirs.
    latent : bool
        Also return the first ``latent_points`` test codes' first two coordinates.
    progress : bool
        Show the AUROC progress bar.

    Returns
    -------
    dict
        ``test_reconstruction_l1``; ``deaths`` (:func:`death_summary` of the held-out death
        times at batch size B, in batches of a seeded random order of the test codes, plus
        ``abs_gap``, the mean |η − t|, the held-out connectivity loss per death time, and
        ``quantiles``, :func:`death_quantiles`); ``calibrated_radii`` (one per branch:
        :func:`branch_radii`, the mean death time of the branch's held-out batches);
        ``covering`` (λ > 0 only: :func:`covering_numbers` of the training codes at radius
        η); ``auroc`` (:func:`ball_aurocs` at radius η and at the calibrated radii);
        ``transfer`` (per dataset of ``settings["transfer"]``: its own ``calibrated_radii``,
        from its test codes as above, and ``auroc`` at η and at those radii);
        ``densification`` (:func:`inlier_counts` at η and at the calibrated radii, with the
        class purity at ``purity_n`` codes per class); and ``latent`` if asked for.
    """
    eta, p, branches, batch = RECIPE["eta"], RECIPE["p"], spec.branches, spec.batch_size
    train, test = splits["train"], splits["test"]
    test_codes = encode(model, test.images).cpu()
    deaths = heldout_deaths(test_codes, branches, batch, p, spec.seed).double()
    summary = death_summary(deaths, eta, None)
    summary["abs_gap"] = float((deaths - eta).abs().mean())
    summary["quantiles"] = death_quantiles(deaths)
    radii = branch_radii(test_codes, branches, batch, p, spec.seed)
    out: dict[str, Any] = {
        "test_reconstruction_l1": reconstruction_l1(model, test.images),
        "deaths": summary,
        "calibrated_radii": radii,
    }
    train_codes = encode(model, train.images).cpu()
    if spec.lam > 0:
        out["covering"] = covering_numbers(
            train_codes, branches, eta, p, settings["covering_sizes"], spec.seed
        )

    def aurocs(
        name: str, codes: dict[str, torch.Tensor], split: dict[str, ImageSplit], at: list
    ) -> dict[str, Any]:
        """ball_aurocs of dataset ``name`` at η and at the per-branch radii ``at``."""
        return ball_aurocs(
            spec, name, lambda: codes["train"], split["train"].labels, codes["test"],
            split["test"].labels, [eta, at], settings["ns"], settings["draws"], seed, progress,
        )  # fmt: skip

    mnist = {"train": train_codes, "test": test_codes}
    out["auroc"] = aurocs(RECIPE["dataset"], mnist, {"train": train, "test": test}, radii)
    out["transfer"] = {}
    for name in settings["transfer"]:
        split = {s: splits[f"{name}/{s}"] for s in ("train", "test")}
        codes = {s: encode(model, split[s].images).cpu() for s in ("train", "test")}
        other_radii = branch_radii(codes["test"], branches, batch, p, spec.seed)
        out["transfer"][name] = {
            "calibrated_radii": other_radii,
            "auroc": aurocs(name, codes, split, other_radii),
        }
    out["densification"] = inlier_counts(
        test_codes,
        test.labels,
        train_codes,
        train.labels,
        branches,
        [eta, radii],
        settings["densify_ns"],
        settings["purity_n"],
        p,
        spec.seed,
    )
    if latent:
        m = min(settings["latent_points"], len(test_codes))
        out["latent"] = {
            "points": test_codes[:m, :2].numpy().round(5).tolist(),  # branch 0, dims 0 and 1
            "labels": test.labels[:m].tolist(),
        }
    return out
