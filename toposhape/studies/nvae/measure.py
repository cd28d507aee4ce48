"""The measures of the N-VAE chapter, one trained model (or one classifier) at a time.

* :func:`factor_scores`: how every latent dimension moves with the known shared factors
  (MNIST: slant, stroke thickness, width measured on the image; Extended Yale B: the
  light's azimuth and elevation from the file names) in every class: Spearman ρ per class
  of the posterior means (:func:`toposhape.factors.class_correlations`) on the validation
  and the test images, the whole table kept.
* :func:`prior_match`: MMD² between the aggregate posterior and the prior N(0, I), pooled
  over classes and per class, at a sweep of Gaussian bandwidths around the median
  heuristic of the prior, with bootstrap intervals (:mod:`toposhape.two_sample`).
* :func:`sample_quality`: ancestral samples at σ scored by a classifier trained on real
  data (:func:`train_evaluator`, or its saved weights :func:`load_evaluator`; its record
  :func:`evaluator_record`): accuracy against the label the sample was drawn for,
  confidence, and the Fréchet distance of its penultimate features to the real test
  images'.
* :func:`synthetic_accuracy`: a classifier trained on a mix of real and generated images
  (or on the same real images alone), tested on real ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from torch import nn

from toposhape.data import random_subset
from toposhape.factors import class_correlations
from toposhape.nvae import (
    LatentVAE,
    classifier_accuracy,
    elbo,
    iwae_log_likelihood,
    kl_per_class,
    posterior,
)
from toposhape.studies.nvae.grid import RECIPE, Data
from toposhape.training import fit_epochs, load_weights, seeded, state_digest
from toposhape.two_sample import frechet_distance, median_bandwidth, mmd2_bootstrap

__all__ = [
    "BANDWIDTH_FACTORS",
    "DigitClassifier",
    "evaluator_record",
    "factor_scores",
    "fit_classifier",
    "likelihoods",
    "load_evaluator",
    "pca_codes",
    "prior_match",
    "sample_features",
    "sample_quality",
    "shared_dims",
    "synthetic_accuracy",
    "train_evaluator",
]

#: The MMD bandwidths, as multiples of the median heuristic of prior draws.
BANDWIDTH_FACTORS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0)

#: Prior draws behind the median heuristic (a fixed seed: one bandwidth per latent size).
_BANDWIDTH_DRAWS, _BANDWIDTH_SEED = 2000, 12345

_CLASSIFIER_BATCH = 64


class DigitClassifier(nn.Module):
    """A small CNN for (1, 28, 28) images: two conv blocks, a 128-unit layer, the logits.

    :meth:`features` is the 128-unit layer (after its ReLU), the feature space of the
    Fréchet distance.
    """

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, classes)
        self.config = {"classes": classes}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def fit_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    classes: int,
    epochs: int,
    seed: int,
    checkpoint: Path | None = None,
    progress: bool = False,
) -> DigitClassifier:
    """A :class:`DigitClassifier` of ``classes`` trained with Adam (lr 1e-3, batch 64) on (x, y).

    Weights, batch order and everything random depend on ``seed``; with a ``checkpoint``
    the training resumes (and a finished one is only reloaded).
    """
    with seeded(seed):
        net = DigitClassifier(classes)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(indices: torch.Tensor, _generator: torch.Generator) -> dict[str, torch.Tensor]:
        loss = nn.functional.cross_entropy(net(x[indices]), y[indices])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return {"loss": loss.detach()}

    fit_epochs(
        (x, y), step, {"model": net, "optimiser": optimiser}, epochs=epochs,
        batch_size=_CLASSIFIER_BATCH, seed=seed, config={"classifier": "DigitClassifier"},
        checkpoint=checkpoint, progress=progress, description="classifier",
    )  # fmt: skip
    return net.eval()


@torch.no_grad()
def _outputs(net: DigitClassifier, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features (N, 128) and class probabilities (N, K)."""
    feats, probs = [], []
    for chunk in x.split(1000):
        f = net.features(chunk)
        feats.append(f)
        probs.append(torch.softmax(net.head(f), dim=1))
    return torch.cat(feats).double().numpy(), torch.cat(probs).double().numpy()


def sample_features(net: DigitClassifier, x: torch.Tensor) -> np.ndarray:
    """Penultimate features (N, 128) of images (N, 1, 28, 28) under the classifier ``net``."""
    return _outputs(net, x)[0]


def train_evaluator(
    data: Data, settings: dict[str, Any], folder: Path, progress: bool
) -> DigitClassifier:
    """The real-data classifier that scores samples, trained.

    Trained once (seed 0) on the training images for ``settings["evaluator_epochs"]``
    epochs, checkpointed in ``folder`` (a finished checkpoint is only reloaded). Its
    weights are kept for good with the profile's records (:func:`load_evaluator`).
    """
    x, y = data.splits["train"]
    return fit_classifier(
        x, y, data.classes, settings["evaluator_epochs"], 0, Path(folder) / "evaluator.pt",
        progress,
    )  # fmt: skip


def load_evaluator(
    path: Path, classes: int, identity: dict[str, Any], hint: str
) -> DigitClassifier:
    """The real-data classifier of ``classes`` whose weights
    :func:`toposhape.training.save_weights` wrote to ``path`` with ``identity``; ValueError
    naming the file, then ``hint``, if they cannot be read, were saved for another identity
    or do not fit."""
    return load_weights(DigitClassifier(classes), path, identity, hint)


def evaluator_record(net: DigitClassifier, data: Data, settings: dict[str, Any]) -> dict[str, Any]:
    """The record of the real-data classifier ``net`` (:func:`train_evaluator`).

    It holds its ``weights`` (sha256 of its state dict,
    :func:`toposhape.training.state_digest`: every sample score must come from these
    weights), its test accuracy and confidence, and the real-data floor of the Fréchet
    distance: ``quality_samples`` real training images against the test images.
    """
    x, y = data.splits["train"]
    test_x, test_y = data.splits["test"]
    feats, probs = _outputs(net, test_x)
    real_x, _ = random_subset(x, y, settings["quality_samples"], 0)
    real_feats, _ = _outputs(net, real_x)
    return {
        "weights": state_digest(net),
        "epochs": settings["evaluator_epochs"],
        "train_images": len(y),
        "test_accuracy": float((probs.argmax(1) == test_y.numpy()).mean()),
        "test_confidence": float(probs.max(1).mean()),
        "fd_real_train_vs_test": frechet_distance(real_feats, feats),
        "fd_images": len(real_x),
    }


def sample_quality(
    model: LatentVAE,
    net: DigitClassifier,
    test_features: np.ndarray,
    sigma: float,
    n: int,
    seed: int,
) -> dict[str, Any]:
    """Score n ancestral samples at σ with the real-data classifier ``net``.

    Labels 0, 1, …, K−1 in turn (balanced). Returns ``accuracy`` (share classified as the
    label they were drawn for; None for the unconditional VAE), ``confidence`` (mean top
    probability), ``label_probability`` (mean probability of the drawn label; None for
    the VAE), ``per_label`` (those three per drawn label, lists of K; None for the VAE),
    ``predicted`` (how many samples the classifier assigns to each class, K integers: the
    classes a sampler covers, for the VAE too) and ``fd`` (Fréchet distance of the
    features to ``test_features``).
    """
    labels = torch.arange(n) % model.classes
    samples = model.sample(labels, torch.Generator().manual_seed(seed), sigma=sigma)
    feats, probs = _outputs(net, samples.float())
    conditional = model.kind != "vae"
    drawn = labels.numpy()
    hit, picked, top = probs.argmax(1) == drawn, probs[np.arange(n), drawn], probs.max(1)
    per_label = {
        name: [round(float(values[drawn == k].mean()), 4) for k in range(model.classes)]
        for name, values in (("accuracy", hit), ("label_probability", picked), ("confidence", top))
    }
    return {
        "accuracy": float(hit.mean()) if conditional else None,
        "confidence": float(top.mean()),
        "label_probability": float(picked.mean()) if conditional else None,
        "per_label": per_label if conditional else None,
        "predicted": np.bincount(probs.argmax(1), minlength=probs.shape[1]).tolist(),
        "fd": frechet_distance(feats, test_features),
    }


def likelihoods(
    model: LatentVAE, data: Data, settings: dict[str, Any], seed: int
) -> dict[str, Any]:
    """Test ELBO (all test images, and the first ``iwae_images`` of them), importance-weighted
    bound (those first images), q(y|x) accuracy (N-VAE) and per-class KL."""
    x, y = data.splits["test"]
    gen = torch.Generator().manual_seed(seed)
    n = settings["iwae_images"]
    return {
        "elbo": elbo(model, x, y, gen),
        "iwae": iwae_log_likelihood(model, x[:n], y[:n], settings["iwae_k"], gen),
        "elbo_iwae_images": elbo(model, x[:n], y[:n], gen),
        "iwae_images": min(n, len(y)),
        "accuracy": classifier_accuracy(model, x, y) if model.kind == "nvae" else None,
        "kl_per_class": kl_per_class(model, x, y).round(4).tolist(),
    }


def _table(rho: np.ndarray) -> list:
    """A (K, D, F) table of ρ as nested lists rounded to 3 decimals, NaN as None (JSON)."""
    return [[[None if np.isnan(v) else round(float(v), 3) for v in row] for row in k] for k in rho]


def _scores(
    val_codes: np.ndarray, test_codes: np.ndarray, data: Data, shared: list[int]
) -> dict[str, Any]:
    """Spearman ρ of every code dimension with every factor, per class, on the validation and
    the test images (:func:`toposhape.factors.class_correlations`)."""
    tables = {}
    for split, codes in (("validation", val_codes), ("test", test_codes)):
        labels = data.splits[split][1].numpy()
        rho = class_correlations(codes, data.factors[split], labels, data.classes)
        tables[f"rho_{split}"] = _table(rho)
    return {"factors": list(data.factor_names), "shared_dims": list(shared), **tables}


def factor_scores(model: LatentVAE, data: Data) -> dict[str, Any]:
    """The factor table of a model's posterior means: every latent dimension (for the N-VAE
    z_c and z_s alike) against every factor, per class.

    Returns ``factors`` (F names), ``shared_dims`` (the dimensions the chapter's claims
    score, :func:`shared_dims`: the N-VAE's z_s, every dimension of the others) and
    ``rho_validation``, ``rho_test``: Spearman ρ, (K, D, F) nested lists rounded to 3
    decimals, None where undefined (a class with fewer than 3 measured images, or a
    constant code or factor in it). Which dimension carries a factor is read from these
    tables on the page (:func:`toposhape.studies.nvae.summary.factor_summary`).
    """
    gen = torch.Generator().manual_seed(0)  # the means do not depend on it
    val = posterior(model, data.splits["validation"][0], gen)[0].numpy()
    test = posterior(model, data.splits["test"][0], gen)[0].numpy()
    return _scores(val, test, data, shared_dims(model))


def pca_codes(data: Data, components: int) -> dict[str, Any]:
    """The factor table (:func:`factor_scores`) of the pixels' principal components, fit on
    the training images: a reference (the light direction of a face is most of its pixels'
    variance)."""
    pca = PCA(components, random_state=0).fit(data.splits["train"][0].flatten(1).numpy())
    codes = {s: pca.transform(data.splits[s][0].flatten(1).numpy()) for s in ("validation", "test")}
    return _scores(codes["validation"], codes["test"], data, list(range(components)))


def _interval(boot: np.ndarray) -> list[list[float]]:
    """95 % percentile interval per column of bootstrap replicates (R, B)."""
    return np.percentile(boot, [2.5, 97.5], axis=0).T.tolist()


def prior_match(
    model: LatentVAE, data: Data, settings: dict[str, Any], seed: int
) -> dict[str, Any]:
    """MMD² of one posterior draw per test image against prior draws, pooled and per class.

    ``pooled``: ``mmd_images`` test images at random (all classes) against as many prior
    draws, what the VAE's sampler assumes it meets. ``per_class``: every class's images
    against as many prior draws, what a conditional model's sampler assumes for each
    label: ``values`` (K, B) with ``intervals`` (K, B, 2, each class's bootstrap
    interval); ``mean`` is the mean over classes, with a bootstrap ``interval`` that
    resamples every class independently. Bandwidths: :data:`BANDWIDTH_FACTORS` times the median
    heuristic of prior draws with a fixed seed (so every model of one latent size is
    measured with the same kernels).
    """
    x, y = data.splits["test"]
    _, z = posterior(model, x, torch.Generator().manual_seed(seed))
    z, y = z.double().numpy(), y.numpy()
    dim = z.shape[1]
    median = median_bandwidth(
        np.random.default_rng(_BANDWIDTH_SEED).standard_normal((_BANDWIDTH_DRAWS, dim))
    )
    hs = [f * median for f in BANDWIDTH_FACTORS]
    rng = np.random.default_rng(seed)
    reps = settings["bootstrap"]
    pick = rng.permutation(len(z))[: settings["mmd_images"]]
    est, boot = mmd2_bootstrap(z[pick], rng.standard_normal((len(pick), dim)), hs, reps, rng)
    pooled = {"images": len(pick), "estimate": est.tolist(), "interval": _interval(boot)}
    values, boots = [], []
    for k in range(data.classes):
        zk = z[y == k]
        est_k, boot_k = mmd2_bootstrap(zk, rng.standard_normal(zk.shape), hs, reps, rng)
        values.append(est_k)
        boots.append(boot_k)
    per_class = {
        "values": np.asarray(values).tolist(),  # (K, B)
        "intervals": [_interval(b) for b in boots],  # (K, B, 2)
        "mean": np.mean(values, axis=0).tolist(),
        "interval": _interval(np.mean(boots, axis=0)),
    }
    return {
        "median_bandwidth": median,
        "bandwidths": hs,
        "replicates": reps,
        "pooled": pooled,
        "per_class": per_class,
    }


def synthetic_accuracy(
    generator: LatentVAE | None,
    data: Data,
    real: int,
    generated: int,
    settings: dict[str, Any],
    seed: int,
) -> float:
    """Test accuracy of a classifier trained on ``real`` real training images and
    ``generated`` ancestral samples (σ = 1, balanced labels) of ``generator``.

    ``generator`` None (with ``generated`` 0) trains on real images only. The classifier
    seed ``seed`` sets its weights and batches, the real subset (the first ``real`` images
    of the seed's permutation of the training images: the same images whether samples are
    added or not) and the sample draws.
    """
    if generated and generator is None:
        raise ValueError(f"generated must be 0 without a generator, got {generated}")
    train_x, train_y = data.splits["train"]
    real_x, real_y = random_subset(train_x, train_y, real, seed)
    real_x, real_y = real_x[:real], real_y[:real]
    if generated:
        labels = torch.arange(generated) % data.classes
        samples = generator.sample(labels, torch.Generator().manual_seed(10_000 + seed))
        real_x, real_y = torch.cat([real_x, samples]), torch.cat([real_y, labels])
    net = fit_classifier(real_x, real_y, data.classes, settings["classifier_epochs"], seed)
    test_x, test_y = data.splits["test"]
    _, probs = _outputs(net, test_x)
    return float((probs.argmax(1) == test_y.numpy()).mean())


def shared_dims(model: LatentVAE) -> list[int]:
    """The N-VAE's shared dimensions z_s; every dimension for the other kinds."""
    if model.kind == "nvae":
        return list(range(RECIPE["class_dim"], model.latent_dim))
    return list(range(model.latent_dim))
