"""What the chapter measures on one trained backbone.

:func:`evaluate_backbone` encodes the test (and training) images and returns the test
reconstruction error, the held-out death times at the backbone's own batch size (their
spread and how far they stay from η: the reachable connectivity loss), the greedy η-net
sizes of the test codes (:mod:`.covering`), the one-class AUROCs of the η-ball score
(the one-class study's :func:`~toposhape.studies.oneclass.evaluate.ball_aurocs`), and, at
the reference batch size, the densification counts (:mod:`.densify`).
"""

from collections.abc import Mapping
from typing import Any

import torch

from toposhape.autoencoder import ConnectivityAutoencoder
from toposhape.image_sets import ImageSplit
from toposhape.oneclass import encode
from toposhape.studies.connectivity.backbones import RECIPE
from toposhape.studies.connectivity.covering import covering_numbers
from toposhape.studies.connectivity.deaths import branch_radii, death_summary, heldout_deaths
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
    train: ImageSplit,
    test: ImageSplit,
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
    train, test : ImageSplit
        The dataset's splits as the profile reads them (uint8 images).
    settings : mapping
        The profile's settings (``ns``, ``draws``, ``covering_sizes``, ``densify_ns``,
        ``purity_n``, ``latent_points``).
    seed : int
        Seeds the one-class draws (as the one-class study's, the same for every backbone).
        The covering order and the densification draws are seeded by the backbone's training
        seed, so the two λ of a seed share them and the spread over seeds includes theirs.
    latent : bool
        Also return the first ``latent_points`` test codes' first two coordinates.
    progress : bool
        Show the AUROC progress bar.

    Returns
    -------
    dict
        ``test_reconstruction_l1``; ``deaths`` (:func:`death_summary` of the held-out death
        times at batch size B, plus ``abs_gap``: the mean |η − t|, the held-out connectivity
        loss per death time); ``covering`` (:func:`covering_numbers` at radius η); ``auroc``
        (:func:`ball_aurocs` at radius η); at B = 100 also ``calibrated_radii`` (one per
        branch: :func:`branch_radii`, the mean death time of the branch's held-out batches
        of B test codes) and ``densification`` (:func:`inlier_counts` at η and at each
        branch's calibrated radius, with the class purity at ``purity_n`` codes per class);
        and ``latent`` if asked for.
    """
    eta, p, branches = RECIPE["eta"], RECIPE["p"], spec.branches
    test_codes = encode(model, test.images).cpu()
    deaths = heldout_deaths(test_codes, branches, spec.batch_size, p).double()
    summary = death_summary(deaths, eta, RECIPE["within"])
    summary["abs_gap"] = float((deaths - eta).abs().mean())
    out: dict[str, Any] = {
        "test_reconstruction_l1": reconstruction_l1(model, test.images),
        "deaths": summary,
        "covering": covering_numbers(
            test_codes, branches, eta, p, settings["covering_sizes"], spec.seed
        ),
    }
    train_codes = encode(model, train.images).cpu()
    out["auroc"] = ball_aurocs(
        spec,
        RECIPE["dataset"],
        lambda: train_codes,
        train.labels,
        test_codes,
        test.labels,
        [eta],
        settings["ns"],
        settings["draws"],
        seed,
        progress,
    )
    if spec.batch_size == RECIPE["batch_size"]:
        radii = branch_radii(test_codes, branches, spec.batch_size, p)
        out["calibrated_radii"] = radii
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
