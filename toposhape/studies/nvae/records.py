"""What the N-VAE chapter keeps of each trained model: one small committed record.

A profile is trained over several sessions, possibly on different machines, and its
checkpoints (the work folder) do not survive a new machine. So the moment a model
finishes, everything the chapter reads from that model alone is measured and written
to ``<results>/nvae/<profile>/records/<name>.json``
(:func:`toposhape.results.save_record`), which is committed:

* :func:`model_record`: the model's numbers, measured at the weights of its best
  validation epoch (:mod:`.measure`: history and best epoch, likelihoods, shared-factor
  scores and, on the sampling dataset, MMD² to the prior and sample quality, with the
  digest of the evaluator's weights that scored the samples); for a generator of the
  sampling dataset, the classifiers trained on its samples (every generated share and
  classifier seed); for a model of the first seed, the figures' examples (samples, test
  codes, shared traversals; images zlib-packed, :func:`pack_images`).
* :func:`dataset_record` (``<dataset>-data.json``): what depends on the data only: the
  data's record, the factor floors, the shown classes and, on the sampling dataset, the
  real-data evaluator's record and the real-data classifiers. (The evaluator's weights
  are committed beside it, ``<dataset>-evaluator.pt``: see :mod:`.run`.)

Every record is saved under a key (:func:`model_key`, :func:`dataset_key`) naming the
profile settings it depends on and :data:`RECORD_FORMAT`, so a change of either makes it
stale: the model is trained (or its checkpoint reloaded) and measured again.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from toposhape.nvae import LatentVAE, best_epoch, converged, posterior, traversal
from toposhape.studies.nvae import measure
from toposhape.studies.nvae.grid import RECIPE, Data, ModelSpec, untrained
from toposhape.training import history_seconds, state_digest

__all__ = [
    "RECORD_FORMAT",
    "SAMPLING_DATASET",
    "SIGMAS",
    "TRAVERSAL_VALUES",
    "dataset_key",
    "dataset_record",
    "evaluator_key",
    "model_key",
    "model_record",
    "pack_images",
    "shown_classes",
    "unpack_images",
]

#: Bumped when what a record holds (or how it is measured) changes: every saved record
#: becomes stale and its model is measured again. 2: models measured at their best
#: validation epoch (``best_epoch``), evaluator weights' digest with every sample score.
#: 3: the test ELBO also on the images of the importance-weighted bound
#: (``elbo_iwae_images``). 4: the whole factor table (every latent dimension, every
#: factor, every class, validation and test), per-class MMD² intervals, per-label sample
#: scores and predicted-class counts, every per-epoch quantity of the training, the
#: untrained-encoder floor of every seed and the real-data classifiers on the real part of
#: each generated share alone; stopping tolerances absolute (nats).
RECORD_FORMAT = "nvae-record/4"

#: The dataset whose models are sampled: MMD² to the prior, sample quality, classifiers
#: trained on generated images.
SAMPLING_DATASET = "mnist"

#: σ of the ancestral samples: the prior's own, and the slides' wider one.
SIGMAS: tuple[float, ...] = (1.0, 1.4)

#: Traversal values of a latent dimension (every other one at 0).
TRAVERSAL_VALUES: tuple[float, ...] = (-2.5, -1.5, -0.75, 0.0, 0.75, 1.5, 2.5)

#: Test images whose codes the latents figure shows.
_CODES = 500

#: What a record keeps of every epoch: every quantity :func:`~toposhape.nvae.train_vae`
#: returns (the training loss and its terms, the validation ELBO, the time).
_HISTORY = (
    "epoch", "loss", "reconstruction", "kl_c", "kl_s", "classification", "val_elbo", "seconds",
)  # fmt: skip

#: Settings of the measures of every model, of sampled models, of generators.
_MEASURES = ("iwae_k", "iwae_images")
_SAMPLING = ("mmd_images", "bootstrap", "quality_samples", "evaluator_epochs")
_CLASSIFIERS = ("classifier_images", "classifier_epochs", "classifier_seeds", "fractions")


def _data_settings(settings: dict[str, Any], dataset: str) -> dict[str, Any]:
    """The dataset's entry of the profile, less its list of models."""
    return {k: v for k, v in settings["datasets"][dataset].items() if k != "models"}


def _is_generator(spec: ModelSpec, settings: dict[str, Any]) -> bool:
    return spec.dataset == SAMPLING_DATASET and spec.model in settings["generators"]


def _has_codes(spec: ModelSpec, settings: dict[str, Any]) -> bool:
    """Codes are kept of the VAE and the N-VAE of the first seed where both are trained."""
    models = settings["datasets"][spec.dataset]["models"]
    return (
        spec.seed == settings["seeds"][0]
        and spec.model in ("VAE", "N-VAE")
        and {"VAE", "N-VAE"} <= set(models)
    )


def model_key(spec: ModelSpec, settings: dict[str, Any]) -> dict[str, Any]:
    """What a model's record depends on: the model, its data and stopping rule, the
    settings of its measures, the recipe and :data:`RECORD_FORMAT`."""
    sampled = spec.dataset == SAMPLING_DATASET
    return {
        "format": RECORD_FORMAT,
        "model": spec.name,
        "data": _data_settings(settings, spec.dataset),
        "recipe": RECIPE,
        "measures": {k: settings[k] for k in _MEASURES + (_SAMPLING if sampled else ())},
        "classifiers": (
            {k: settings[k] for k in _CLASSIFIERS} if _is_generator(spec, settings) else None
        ),
        "examples": (
            {
                "sigmas": SIGMAS,
                "traversal_values": TRAVERSAL_VALUES,
                "codes": _has_codes(spec, settings),
            }
            if spec.seed == settings["seeds"][0]
            else None
        ),
    }


def dataset_key(dataset: str, settings: dict[str, Any]) -> dict[str, Any]:
    """What a dataset's record depends on: its data settings, the settings of the evaluator
    and the real-data classifiers (sampling dataset), the recipe, the training seeds (the
    untrained-encoder floors) and :data:`RECORD_FORMAT`."""
    sampled = dataset == SAMPLING_DATASET
    return {
        "format": RECORD_FORMAT,
        "dataset": dataset,
        "data": _data_settings(settings, dataset),
        "recipe": RECIPE,
        "seeds": settings["seeds"],
        "measures": {k: settings[k] for k in (*_SAMPLING, *_CLASSIFIERS)} if sampled else None,
    }


#: The data settings the real-data evaluator's weights do not depend on.
_STOPPING = ("max_epochs", "patience", "tolerance")


def evaluator_key(dataset: str, settings: dict[str, Any]) -> dict[str, Any]:
    """What the real-data evaluator's weights depend on, and only that: the dataset, its
    data settings less the models' stopping rule, and ``evaluator_epochs`` (its seed and
    recipe are fixed in :func:`.measure.train_evaluator`). Its committed weights are saved
    under this identity, so a change of the record format or of any other measure keeps
    them."""
    data = {k: v for k, v in _data_settings(settings, dataset).items() if k not in _STOPPING}
    return {"evaluator": dataset, "data": data, "epochs": settings["evaluator_epochs"]}


def pack_images(images: torch.Tensor) -> dict[str, Any]:
    """Images in [0, 1], any shape, as 0..255 bytes, zlib-compressed and base64-encoded.

    A record holds hundreds of images; as JSON lists of integers they would take
    megabytes. :func:`unpack_images` gives back the 0..255 integers as nested lists.
    """
    raw = (images.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return {
        "shape": list(raw.shape),
        "zlib_base64": base64.b64encode(zlib.compress(raw.tobytes(), 9)).decode("ascii"),
    }


def unpack_images(packed: dict[str, Any]) -> list:
    """The images of :func:`pack_images` as nested lists of 0..255 integers, of its shape."""
    raw = zlib.decompress(base64.b64decode(packed["zlib_base64"]))
    return np.frombuffer(raw, dtype=np.uint8).reshape(packed["shape"]).tolist()


def shown_classes(classes: int) -> list[int]:
    """The classes of the traversals: the first 5 (digits), or the first 3 with more than
    10 classes (subjects: a face takes 2.4 times a digit's bytes and compresses far
    less). Four shared dimensions × 7 values of each keep the N-VAE's record small."""
    return list(range(min(classes, 5 if classes <= 10 else 3)))


def _sample_labels(classes: int) -> torch.Tensor:
    """The labels of the shown samples: 64 cycling through up to 10 classes, else 4 of
    each of the first 4 classes (a square tile either way, a row per subject)."""
    if classes <= 10:
        return torch.arange(64) % classes
    return torch.arange(4).repeat_interleave(4)


def _examples(spec: ModelSpec, model: LatentVAE, data: Data, settings: dict) -> dict[str, Any]:
    """What the figures show of one model of the first seed: its samples at every σ, its
    test codes (VAE and N-VAE, :func:`_has_codes`) and, of the N-VAE, a traversal of every
    shared dimension for the shown classes."""
    labels = _sample_labels(data.classes)
    gen = torch.Generator
    out: dict[str, Any] = {
        "samples": {
            f"{s:g}": pack_images(model.sample(labels, gen().manual_seed(spec.seed), s)[:, 0])
            for s in SIGMAS
        }
    }
    if _has_codes(spec, settings):
        means, _ = posterior(model, data.splits["test"][0][:_CODES], gen().manual_seed(spec.seed))
        out["codes"] = means.double().numpy().round(2).tolist()  # float32 prints 0.2300000041
    if spec.model == "N-VAE":
        values = torch.tensor(TRAVERSAL_VALUES)
        base = torch.zeros(model.latent_dim)
        shown = shown_classes(data.classes)
        sweeps = [
            traversal(model, base, RECIPE["class_dim"] + j, values, shown)[:, :, 0]
            for j in range(model.shared_dim)
        ]
        out["shared_traversals"] = pack_images(torch.stack(sweeps))  # (M, classes, V, H, W)
    return out


def _classifier_rows(
    generator: ModelSpec | None,
    model: LatentVAE | None,
    data: Data,
    settings: dict[str, Any],
    progress: bool,
) -> list[dict[str, Any]]:
    """Classifiers trained on each generated share of ``generator``'s samples (with the rest
    real images); with ``generator`` None, on real images only: all ``classifier_images``
    of them, and the real part of every generated share below 100 % alone (the control:
    the same real images without the samples). One row per set and classifier seed, with
    its ``real_images`` and ``generated_images``."""
    n = settings["classifier_images"]
    if generator is None:
        sets = [(0.0, n, 0)] + [(0.0, n - round(n * f), 0) for f in settings["fractions"]]
        sets = [s for s in dict.fromkeys(sets) if s[1] > 0]
    else:
        sets = [(f, n - round(n * f), round(n * f)) for f in settings["fractions"]]
    jobs = [(*s, seed) for s in sets for seed in settings["classifier_seeds"]]
    return [
        {
            "generator": "real data" if generator is None else generator.model,
            "generator_seed": None if generator is None else generator.seed,
            "fraction": fraction,
            "real_images": real,
            "generated_images": fake,
            "classifier_seed": seed,
            "accuracy": measure.synthetic_accuracy(model, data, real, fake, settings, seed),
        }
        for fraction, real, fake, seed in tqdm(jobs, desc="classifiers", disable=not progress)
    ]


def model_record(
    spec: ModelSpec,
    model: LatentVAE,
    history: list[dict],
    data: Data,
    settings: dict[str, Any],
    evaluator: tuple[measure.DigitClassifier, np.ndarray] | None,
    progress: bool = False,
) -> dict[str, Any]:
    """Everything the chapter reads from one trained model.

    Parameters
    ----------
    spec, model, history
        The model, at its best validation weights (:func:`~toposhape.nvae.train_vae`), and
        its per-epoch history (every epoch run).
    data : Data
        Its dataset, with factors.
    settings : dict
        The profile.
    evaluator : (DigitClassifier, ndarray (N, 128)) or None
        On the sampling dataset, the real-data classifier and its features of the test
        images; None elsewhere.
    progress : bool
        Show the classifiers' progress bar.

    Returns
    -------
    dict
        ``run`` (the payload's entry of the model; on the sampling dataset with
        ``evaluator_weights``, the digest of the evaluator that scored its samples), and
        where they apply ``examples`` and ``synthetic`` (classifier rows).
    """
    rule = settings["datasets"][spec.dataset]
    run: dict[str, Any] = {
        "model": spec.model,
        "kind": spec.kind,
        "beta": spec.beta,
        "seed": spec.seed,
        "name": spec.name,
        "epochs": len(history),
        "best_epoch": best_epoch(history),
        "converged": converged(history, rule["patience"], rule["tolerance"]),
        "train_seconds": history_seconds(history),
        "history": [{k: entry[k] for k in _HISTORY} for entry in history],
        **measure.likelihoods(model, data, settings, spec.seed),
        "factor_scores": measure.factor_scores(model, data),
    }
    if evaluator is not None:
        net, test_features = evaluator
        run["evaluator_weights"] = state_digest(net)
        run["prior_match"] = measure.prior_match(model, data, settings, spec.seed)
        run["quality"] = {
            f"{sigma:g}": measure.sample_quality(
                model, net, test_features, sigma, settings["quality_samples"], spec.seed
            )
            for sigma in SIGMAS
        }
    out: dict[str, Any] = {"run": run}
    if spec.seed == settings["seeds"][0]:
        out["examples"] = _examples(spec, model, data, settings)
    if _is_generator(spec, settings):
        out["synthetic"] = _classifier_rows(spec, model, data, settings, progress)
    return out


def dataset_record(
    data: Data,
    settings: dict[str, Any],
    evaluator: dict[str, Any] | None,
    progress: bool = False,
) -> dict[str, Any]:
    """What the chapter reads from a dataset without any trained model.

    ``evaluator`` is the real-data classifier's record (:func:`.measure.train_evaluator`)
    on the sampling dataset, None elsewhere. Returns the data's ``record``,
    ``factor_names``, ``classes``, the factor ``floors`` (each a list of factor tables,
    :func:`.measure.factor_scores`, with their ``seed``: ``PCA of pixels``, one, seed
    None; ``untrained encoder``, the encoder of an untrained VAE of every training seed,
    all its dimensions), the test ``labels`` of the shown codes and the ``shown_classes``;
    on the sampling dataset also ``evaluator`` and ``synthetic`` (the real-data
    classifiers).
    """
    latent = RECIPE["class_dim"] + RECIPE["shared_dim"]
    out: dict[str, Any] = {
        "record": data.record,
        "factor_names": data.factor_names,
        "classes": data.classes,
        "floors": {
            "PCA of pixels": [{"seed": None, **measure.pca_codes(data, latent)}],
            "untrained encoder": [
                {"seed": seed, **measure.factor_scores(untrained(floor, data), data)}
                for seed, floor in ((s, ModelSpec(data.name, "VAE", s)) for s in settings["seeds"])
            ],
        },
        "labels": data.splits["test"][1][:_CODES].tolist(),
        "shown_classes": shown_classes(data.classes),
    }
    if evaluator is not None:
        out["evaluator"] = evaluator
        out["synthetic"] = _classifier_rows(None, None, data, settings, progress)
    return out
