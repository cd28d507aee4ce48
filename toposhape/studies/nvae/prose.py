"""The N-VAE chapter's paragraphs that state settings or data, written from a payload only.

The page's text names no setting, count or rule threshold by hand: every number in these
paragraphs (the stopping rules, the likelihood bound's samples, the latent layout, the
images of the prior match, the evaluator's epochs, the generated training sets, the Extended
Yale B images) is read from the payload's ``settings``, ``recipe`` and data records, and
every threshold of a verdict rule from :mod:`toposhape.studies.nvae.summary`, so the text
says what the numbers beside it were made with and judged by.
A dataset the payload does not hold yet is described by its settings alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from toposhape.nvae import converged, held_out_gain
from toposhape.studies.nvae import summary
from toposhape.studies.nvae.grid import DATASETS
from toposhape.studies.nvae.summary import check_payload
from toposhape.studies.present import plural as _plural

__all__ = ["prose"]


def _of(k: int, n: int) -> str:
    """``"3 of 12"``, or ``"none of the 12"`` when ``k`` is 0."""
    return f"none of the {n}" if k == 0 else f"{k} of {n}"


def _percent(share: float) -> str:
    return f"{100 * share:g} %"


def _either(items: list[str], conjunction: str = "or") -> str:
    """``"a"``, ``"a or b"``, ``"a, b or c"`` (with ``conjunction`` "and": ``"a, b and c"``)."""
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _record(payload: Mapping[str, Any], dataset: str) -> dict[str, Any] | None:
    entry = payload["datasets"].get(dataset)
    return None if entry is None else entry["record"]


def _rule(payload: Mapping[str, Any], dataset: str) -> str:
    """A dataset's stopping rule, and its steps per epoch once its data are read."""
    cfg = payload["settings"]["datasets"][dataset]
    text = (
        f"{DATASETS.get(dataset, dataset)}: patience {_plural(cfg['patience'], 'epoch')}, "
        f"tolerance {cfg['tolerance']:g} nats, cap {_plural(cfg['max_epochs'], 'epoch')}"
    )
    record = _record(payload, dataset)
    if record is not None:
        steps = record["splits"]["train"]["images"] // payload["recipe"]["batch_size"]
        text += f" of {_plural(steps, 'step')}"
    return text + f", no stop before the end of epoch {_earliest(cfg['patience'])}"


def _earliest(patience: int) -> int:
    """The first epoch at which :func:`~toposhape.nvae.converged` can stop a run of this
    ``patience`` (a history that falls every epoch, so the tolerance plays no part)."""
    epochs = 1
    while not converged([{"val_elbo": -e} for e in range(epochs)], patience, 0.0):
        epochs += 1
    return epochs


def _training(payload: Mapping[str, Any]) -> str:
    rules = "; ".join(_rule(payload, d) for d in payload["settings"]["datasets"])
    return (
        "Every model is trained with Adam until a stopping rule on its ELBO on held-out "
        "*validation* images (never the test images) holds. After each epoch the validation "
        "ELBO is measured with the same posterior draws, and training stops once at least "
        "2 × *patience* epochs have run and the best value of the last *patience* epochs "
        "improves on the best before them by less than a *tolerance* in nats (absolute, per "
        "image: a relative one would loosen with the irreducible entropy of the grey-level "
        "targets, most of the ELBO), or at a cap "
        f"({rules}). A gain below the tolerance over the last *patience* epochs does not "
        "mean the curve is flat: a run can stop while it is still slowly rising. Every model "
        "is measured with the weights of its best validation epoch (kept in its checkpoint), "
        "not with its last; the stopping table below gives, for every run, both epochs and "
        "what its best validation ELBO still gained over its last *patience* epochs and over "
        f"{_plural(summary.LONGER_WINDOW, 'time', words=True)} as many."
        + "".join(f" {_stopped(payload, d)}" for d in payload["datasets"] if _runs(payload, d))
        + f" {_time(payload)}"
    )


def _runs(payload: Mapping[str, Any], dataset: str) -> list[dict[str, Any]]:
    return payload["datasets"][dataset]["runs"]


def _span(values: list[float], signed: bool = False) -> str | None:
    """``"137–168"`` or, ``signed``, ``"+0.31 to +0.52"``: the smallest and the largest of the
    finite values (one value once when they are equal); None when none is finite."""
    finite = sorted(v for v in values if np.isfinite(v))
    if not finite:
        return None
    low, high = (f"{v:+.2f}" if signed else f"{v:g}" for v in (finite[0], finite[-1]))
    return low if low == high else (f"{low} to {high}" if signed else f"{low}–{high}")


def _gained(runs: list[dict[str, Any]], epochs: int) -> str:
    """How far the best validation ELBO of ``runs`` moved over their last ``epochs`` epochs:
    ``"by +0.33 to +0.50 nats over their last 20 epochs"``."""
    moved = _span([held_out_gain(r["history"], epochs) for r in runs], signed=True)
    last = f"over their last {_plural(epochs, 'epoch')}"
    return f"by {moved} nats {last}" if moved else f"by an undefined amount {last} (shorter runs)"


def _stopped(payload: Mapping[str, Any], dataset: str) -> str:
    """How a dataset's runs ended, from their histories: their length, where their best epoch
    was, and what their best validation ELBO still gained at the end."""
    runs, cfg = _runs(payload, dataset), payload["settings"]["datasets"][dataset]
    patience = cfg["patience"]
    rising = sum(held_out_gain(r["history"], patience) > 0 for r in runs)
    capped = sum(r["epochs"] >= cfg["max_epochs"] for r in runs)
    last = sum(r["best_epoch"] == r["epochs"] for r in runs)
    behind = max(r["epochs"] - r["best_epoch"] for r in runs)
    n = len(runs)
    at_cap = "none" if capped == 0 else f"{capped} of them"
    return (
        f"{DATASETS.get(dataset, dataset)}: the {_plural(n, 'run')} stopped after "
        f"{_span([r['epochs'] for r in runs])} epochs ({at_cap} at the cap); the best "
        f"epoch was the last one in {_of(last, n)} and at most {_plural(behind, 'epoch')} "
        f"before the end in every run. Their best validation ELBO moved "
        f"{_gained(runs, patience)} (tolerance {cfg['tolerance']:g}) and "
        f"{_gained(runs, summary.LONGER_WINDOW * patience)}: {_of(rising, n)} runs were "
        "still improving when they stopped."
    )


def _time(payload: Mapping[str, Any]) -> str:
    """The training time of the measured runs, summed over datasets (one core each)."""
    runs = [r for entry in payload["datasets"].values() for r in entry["runs"]]
    if not runs:
        return "No model is trained yet."
    hours = sum(r["train_seconds"] for r in runs) / 3600
    return (
        f"Training the {_plural(len(runs), 'measured run')} took {hours:.1f} core-hours "
        "in all (one CPU core each, measurement not included)."
    )


def _likelihood(payload: Mapping[str, Any]) -> str:
    settings = payload["settings"]
    measured = [
        f"{summary.bound_label(payload, d)} on {DATASETS.get(d, d)}"
        for d in settings["datasets"]
        if d in payload["datasets"]
    ]
    images = ", ".join(measured) if measured else f"at most {settings['iwae_images']} per dataset"
    return (
        "**The likelihood.** Images are grey levels in [0, 1], and every model uses a "
        "Bernoulli likelihood on them (binary cross-entropy against the grey levels, not "
        "binarised data). That is the usual choice for MNIST-like data, but it is not a "
        "normalised density for non-binary targets: the log-likelihoods below compare our "
        "models with each other, not with papers that binarise MNIST. The importance-weighted "
        f"bound (IWAE, {settings['iwae_k']} posterior samples per image, on the first "
        f"{settings['iwae_images']} test images or all of them where there are fewer: "
        f"{images}) bounds $\\log p(x\\mid y)$ for the conditional models (N-VAE, CVAE) and "
        "$\\log p(x)$ for the VAE, so only the N-VAE and the CVAE are compared on it. The "
        "table gives the ELBO on all test images and on the bound's images, where the IWAE "
        "bound can be set beside it, and how far the bound is above that ELBO."
    )


def _factors(payload: Mapping[str, Any]) -> str:
    recipe = payload["recipe"]
    latent = recipe["class_dim"] + recipe["shared_dim"]
    seeds = _plural(len(payload["settings"]["seeds"]), "training seed", words=True)
    return (
        f"The N-VAE is scored on its {_plural(recipe['shared_dim'], 'shared dimension')} only; "
        f"the CVAE and the VAE on all {latent} of theirs. {_used(payload)}The "
        f"floor: the encoder of an untrained VAE, all {latent} dimensions, at the initial "
        f"weights of each training seed ({seeds}); every claim asks the N-VAE to beat it "
        "beyond noise. A reference, not "
        f"judged: the first {latent} principal components of the pixels. The PCA has one "
        "value, not one per seed: it is compared by the same noise rule, with a spread of zero "
        "on its side. Every model's correlations are kept for all its dimensions (the N-VAE's "
        "z_c too), so the table also gives the next used dimension's |ρ| for each factor (a "
        "factor has a dimension of its own when that is well below the chosen one's) and the "
        "best used z_c dimension's; an unused dimension is left out there, since a rank "
        "correlation is blind to scale and picks up encoder residue the decoder cannot read "
        f"(the floors have no KL: all their dimensions count). The MNIST threshold: "
        f"{summary.capture_rule()}. {_chance(payload)}"
    )


def _used(payload: Mapping[str, Any]) -> str:
    """How many of the scored dimensions the runs use, per dataset and seed (empty before
    any run)."""
    recipe = payload["recipe"]
    cd, latent = recipe["class_dim"], recipe["class_dim"] + recipe["shared_dim"]
    parts = []
    for dataset in payload["datasets"]:
        nv, cv = (summary.runs(payload, dataset, m) for m in ("N-VAE", "CVAE"))
        if not nv or not cv:
            continue
        nv, cv = summary.used_counts(nv, slice(cd, latent)), summary.used_counts(cv, slice(latent))
        parts.append(
            f"{DATASETS.get(dataset, dataset)}: the N-VAE uses {', '.join(map(str, nv))} of its "
            f"{latent - cd} (per seed), the CVAE {', '.join(map(str, cv))} of its {latent}"
        )
    if not parts:
        return ""
    return (
        f"Of the scored dimensions the runs use ({summary.used_rule()}; the latent-use "
        f"table): {'; '.join(parts)}. "
    )


def _latent_use() -> str:
    """How the latent-use table counts the dimensions a run uses."""
    return (
        f"Which latent dimensions each run uses: {summary.used_rule()}, and a class uses it "
        "when its own mean KL there does. A dimension no class uses stays at the prior for "
        "every class, so the decoder can read nothing from it. The N-VAE's z_c and z_s are "
        "counted apart, the baselines' z as a whole (their split means nothing)."
    )


def _chance(payload: Mapping[str, Any]) -> str:
    """The chance level of a factor score on each dataset read (the dashed line of the
    factor figures)."""
    levels = [
        f"{level:.3f} on {DATASETS.get(d, d)} (about "
        f"{round(entry['record']['splits']['test']['images'] / entry['classes'])} test images "
        "per class)"
        for d, entry in payload["datasets"].items()
        if (level := summary.chance_level(entry)) is not None
    ]
    if not levels:
        return ""
    return (
        "By chance alone, one dimension unrelated to a factor has a mean |ρ| over classes of "
        f"{' and '.join(levels)}: the expected |ρ| of that many unrelated values, the dashed "
        "line of the factor figures. The per-class best and the next dimension, picked among "
        "several on the test images themselves, lie higher by chance."
    )


def _detector(recipe: Mapping[str, Any]) -> str:
    return (
        f"Counted here: {summary.selective_rule()}. The slides expect $\\beta_c = 4$ to switch "
        "more dimensions off per class; the findings compare the count at $\\beta_c = 4$ with "
        "that at $\\beta_c = 1$ by the noise rule. The CVAE, with no class-specific decoder "
        f"weights, is counted on its first {recipe['class_dim']} dimensions as a floor: what a "
        "class leaves at the prior without the N-VAE's decoder."
    )


def _prior_match(payload: Mapping[str, Any]) -> str:
    """What the MMD² to the prior is computed on: the test images of the pooled and of the
    per-class estimates, the bandwidths and the bootstrap (MNIST, the only data scored)."""
    settings = payload["settings"]
    factors = _either([f"{f:g}" for f in payload["bandwidth_factors"]], "and")
    runs = _runs(payload, "mnist") if "mnist" in payload["datasets"] else []
    pooled = sorted({r["prior_match"]["pooled"]["images"] for r in runs if "prior_match" in r})
    if pooled:
        test = _record(payload, "mnist")["splits"]["test"]["images"]
        classes = payload["datasets"]["mnist"]["classes"]
        images = (
            f"the pooled MMD² uses {' or '.join(map(str, pooled))} of the {test} test images, "
            "drawn at random with the run's training seed (all classes together), the "
            "per-class MMD² all the test images of each class (about "
            f"{round(test / classes)})"
        )
    else:
        images = (
            f"the pooled MMD² uses at most {settings['mmd_images']} test images drawn at "
            "random (all classes together), the per-class MMD² all the test images of each class"
        )
    return (
        "Every MMD² compares one posterior draw per test image with as many prior draws: "
        f"{images}. The estimator is unbiased, so the two have the same expectation at any "
        "number of images; its spread grows as the images get fewer. The kernels: bandwidths "
        f"of {factors} times the median heuristic of prior draws (one set of kernels for "
        "every model of one latent size), since which bandwidth shows a difference depends on "
        "the scale at which the two distributions differ. The intervals: 95 % "
        f"percentile intervals of {settings['bootstrap']} bootstrap replicates that resample "
        "the images. Tables and figure give MMD² (×10⁻³)."
    )


def _samples(recipe: Mapping[str, Any]) -> str:
    sigmas = " and at ".join(f"σ = {s:g}" for s in recipe["sigmas"])
    return (
        f"The samples themselves, at {sigmas}, where a model whose aggregate posterior does "
        "not fill the prior draws from regions its decoder never saw:"
    )


def _scoring(payload: Mapping[str, Any]) -> str:
    settings = payload["settings"]
    epochs = _plural(settings["evaluator_epochs"], "epoch", words=True)
    entry = payload["datasets"].get("mnist")
    evaluator = None if entry is None else entry.get("evaluator")
    real = (
        f"{evaluator['fd_images']} training images drawn at random"
        if evaluator is not None
        else f"at most {settings['quality_samples']} training images drawn at random"
    )
    return (
        "And scored, by a classifier trained on the real training images (a small CNN, "
        f"{epochs}, one seed: a fixed measuring instrument, trained once and its weights "
        "committed with the records, whose digest every score is recorded with, so that "
        "scores of two evaluators are never mixed): for "
        f"{settings['quality_samples']} samples of each model at each σ, the share it assigns "
        "to the label they were drawn for, the probability it gives that label, its mean top "
        "probability (confidence), and the Fréchet distance between its penultimate-layer "
        "features of the samples and of the real test images (as FID does with Inception "
        "features). The first row is the real-data reference: the classifier on the real test "
        f"images, and the Fréchet distance between {real} and the test images (how far apart "
        "two sets of real images are at this size)."
    )


def _synthetic(payload: Mapping[str, Any]) -> str:
    settings = payload["settings"]
    record = _record(payload, "mnist")
    train = "the" if record is None else f"the {record['splits']['train']['images']}"
    shares = _either([_percent(f) for f in [0.0, *settings["fractions"]]])
    generators = _either([f"the {g}" for g in settings["generators"]])
    seeds = len(settings["classifier_seeds"])
    epochs = _plural(settings["classifier_epochs"], "epoch", words=True)
    parts = [str(summary.real_part(settings, f)) for f in settings["fractions"] if f < 1]
    control = (
        " The control of each generated share below 100 %: the same classifiers (same seeds) "
        f"on its real images alone ({_either(parts)} images, exactly those of the mixed set), "
        "which says whether the samples add anything to the real images beside them."
        if parts
        else ""
    )
    return (
        f"A small CNN is trained for {epochs} on {settings['classifier_images']} images of "
        f"which {shares} are ancestral samples (σ = 1, balanced labels) of {generators}, and "
        "tested on the real test images. Every generator seed trains "
        f"{_plural(seeds, 'classifier', words=True)} "
        f"({_plural(seeds, 'classifier seed', words=True)}); the table gives the mean and std "
        f"over generator seeds of the classifier-seed means. A classifier's real images are "
        f"the first ones of a random permutation of {train} training images that its "
        "classifier seed draws: the same for every generator and generator seed, and the same "
        "with and without samples (a smaller real part is the start of a larger one)."
        f"{control}"
    )


def _yale(payload: Mapping[str, Any]) -> str:
    cfg = payload["settings"]["datasets"].get("yaleb")
    if cfg is None:
        return "This profile does not train on Extended Yale B."
    shares = (
        f"Every subject keeps {_percent(cfg['test_share'])} of its images for testing and "
        f"{_percent(cfg['validation_share'])} for validation"
    )
    light = (
        "the file name gives the light's azimuth and elevation, the two shared factors the "
        "slides show. Ambient images and files marked bad are not read."
    )
    record = _record(payload, "yaleb")
    if record is None:
        return (
            f"The cropped faces of Extended Yale B (the subjects are the classes); {light} "
            f"{shares}. Not read yet on this page: its image counts appear once it is run."
        )
    splits, subjects = record["splits"], record["classes"]
    total = sum(v["images"] for v in splits.values())
    directions = record["light_directions"]
    fewer = ", fewer for some subjects" if total < subjects * directions else ""
    per = {s: round(splits[s]["images"] / subjects) for s in ("validation", "test")}
    height, width = record["image_shape"][1:]
    return (
        f"{record['source']}: the faces of {subjects} subjects (the subjects are the classes), "
        f"{total} images lit from {directions} directions each{fewer}; {light} {shares}: "
        f"about {per['validation']} validation and {per['test']} test images per subject. "
        "The shared factors are measured exactly as on MNIST, with the light direction in "
        "place of the stroke measures, but every per-subject correlation rests on that few "
        f"images (the dimension is picked on about {per['validation']}, scored on about "
        f"{per['test']}), so each is noisy; only their mean over the {subjects} subjects is "
        f"judged. Images are {height} × {width} (read at "
        f"{' × '.join(map(str, record['read_size']))}, less a column on each side)."
    )


def _noise(settings: Mapping[str, Any]) -> str:
    """How many seeds each model has and the rule its comparisons follow."""
    seeds = settings["seeds"]
    return (
        f"Every model is trained from {_plural(len(seeds), 'seed', words=True)} "
        f'({", ".join(map(str, seeds))}). {summary.noise_rule()} "One seed" below means '
        "that the rule could not be applied. Every seed trains on the same split of the data "
        "(the split does not depend on the training seed), so the seed spread leaves out how "
        "much the numbers would move with another split."
    )


def _clustering(payload: Mapping[str, Any]) -> str:
    """How well the class reads from the first seed's stored MNIST test codes
    (:func:`summary.class_probe`): the VAE's whole z and its first principal axes, as many as
    the N-VAE has shared dimensions, against the N-VAE's z_s and z_c."""
    entry = payload["datasets"].get("mnist")
    examples = None if entry is None else entry["examples"]
    if examples is None or "codes" not in examples:
        return "The class probe of the codes needs the VAE and the N-VAE of the first seed."
    labels = np.asarray(examples["labels"])
    if np.unique(labels, return_counts=True)[1].min() < summary.PROBE_FOLDS:
        return (
            f"The class probe of the codes needs {summary.PROBE_FOLDS} test images of every "
            f"class among the {len(labels)} shown."
        )
    cd, sd = payload["recipe"]["class_dim"], payload["recipe"]["shared_dim"]
    vae, nvae = (np.asarray(examples["codes"][m], dtype=float) for m in ("VAE", "N-VAE"))
    centred = vae - vae.mean(axis=0)
    axes = np.linalg.svd(centred, full_matrices=False)[2][:sd].T
    read = {
        f"the VAE's whole z ({cd + sd} dimensions)": vae,
        f"its first {sd} principal axes": centred @ axes,
        f"the N-VAE's z_s ({sd})": nvae[:, cd:],
        f"its z_c ({cd})": nvae[:, :cd],
    }
    accuracy = "; ".join(f"{k} {summary.class_probe(v, labels):.2f}" for k, v in read.items())
    chance = np.bincount(labels).max() / len(labels)
    return (
        f"How well the class reads from these codes (first training seed, the "
        f"{len(labels)} test images shown; {summary.PROBE_NEIGHBOURS}-nearest-neighbour "
        f"accuracy over {summary.PROBE_FOLDS} stratified folds; the largest class alone "
        f"gives {chance:.2f}): {accuracy}. One seed and a few hundred images: a measure of "
        "the figure, not a comparison by the noise rule."
    )


def prose(payload: Mapping[str, Any]) -> dict[str, str]:
    """Markdown paragraphs of the page, by name: ``training`` (the stopping rule and the
    weights measured), ``likelihood`` (the IWAE bound), ``clustering`` (how well the class
    reads from the stored codes), ``factors`` (the latents scored and the
    rule of a captured factor), ``latent_use`` (how the used dimensions are counted),
    ``detector`` (the rule of a class leaving a dimension at the
    prior, and its comparisons), ``prior_match`` (the images, kernels and bootstrap of the
    MMD² to the prior), ``samples`` (the σ shown),
    ``scoring`` (the real-data evaluator), ``synthetic`` (classifiers on generated images),
    ``yale`` (the Extended Yale B data) and ``noise`` (the training seeds and the noise rule
    the comparisons follow).

    Raises
    ------
    TypeError
        If ``payload`` is not a mapping.
    ValueError
        If it lacks a key or was written by an earlier version of the chapter.
    """
    check_payload(payload)
    return {
        "training": _training(payload),
        "likelihood": _likelihood(payload),
        "clustering": _clustering(payload),
        "factors": _factors(payload),
        "latent_use": _latent_use(),
        "detector": _detector(payload["recipe"]),
        "prior_match": _prior_match(payload),
        "samples": _samples(payload["recipe"]),
        "scoring": _scoring(payload),
        "synthetic": _synthetic(payload),
        "yale": _yale(payload),
        "noise": _noise(payload["settings"]),
    }
