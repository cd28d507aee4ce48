"""One committed record per finished backbone: what the chapter needs from it, and the grid.

A backbone's checkpoint lives in the profile's git-ignored work folder (or the one-class
study's, :func:`~.backbones.shared_checkpoint`), which a fresh machine does not have. So as
soon as a backbone has finished training, everything the chapter reads off it alone (its
training curves, the measurements of :func:`~.evaluate.evaluate_backbone`: death times,
reachable connectivity loss, covering numbers, one-class AUROCs, densification counts, the
latent points) is written as one small JSON file,
``<results>/connectivity/<profile>/records/<backbone>.json``
(:func:`toposhape.results.save_record`), and committed. Its key (:func:`record_key`) names
the backbone, its training settings, the data read, the read-out settings and
:data:`RECORD_FORMAT`; a record of another key counts as missing.

:func:`collect` gives every backbone's record: read when there is one (the backbone is then
neither trained nor loaded), otherwise measured from a finished checkpoint, or trained
first, or left pending. Everything that combines backbones is computed from the records.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

import torch

from toposhape.image_sets import ImageSplit
from toposhape.results import load_record, save_record
from toposhape.studies.connectivity.backbones import (
    RECIPE,
    backbone_settings,
    is_finished,
    load_backbone,
    train_missing,
    trained_epochs,
)
from toposhape.studies.connectivity.evaluate import evaluate_backbone
from toposhape.studies.oneclass.protocol import BackboneSpec, train_config
from toposhape.training import history_seconds, state_digest

#: Format tag of the records this module writes (part of their key).
RECORD_FORMAT = "toposhape-connectivity-record/4"

#: The profile settings a backbone's read-out depends on (``latent_points`` only where
#: the latent codes are kept, see :func:`keeps_latent`).
READOUT_SETTINGS = ("ns", "draws", "covering_sizes", "densify_ns", "purity_n", "transfer")


def keeps_latent(spec: BackboneSpec, seed: int) -> bool:
    """Whether the latent picture shows ``spec``'s codes: first seed, reference B only."""
    return spec.seed == seed and spec.batch_size == RECIPE["batch_size"]


def record_key(
    spec: BackboneSpec, settings: Mapping[str, Any], seed: int, splits: Mapping[str, ImageSplit]
) -> dict[str, Any]:
    """Everything a backbone's record depends on.

    The backbone (``spec``), its training settings, the recipe (:data:`~.backbones.RECIPE`,
    which holds nothing that only the page's rules read), the data (fingerprint of each
    split read and the number of images used; the subset is seeded by ``seed``), the base
    ``seed`` (the one-class draws), the read-out settings and :data:`RECORD_FORMAT`.
    ``splits`` maps "train", "test" and each transfer dataset's "<name>/train" and
    "<name>/test" to the profile's splits.
    """
    latent = keeps_latent(spec, seed)
    config = train_config(backbone_settings(settings), spec.lam, spec.seed, spec.batch_size)
    return {
        "format": RECORD_FORMAT,
        "spec": asdict(spec),
        "training": asdict(config),
        "recipe": dict(RECIPE),
        "data": {
            name: {"fingerprint": split.record["fingerprint"], "used": split.record["used"]}
            for name, split in sorted(splits.items())
        },
        "seed": seed,
        "latent": latent,
        **{k: settings[k] for k in READOUT_SETTINGS},
        **({"latent_points": settings["latent_points"]} if latent else {}),
    }


def float_images(split: ImageSplit) -> torch.Tensor:
    """A split's uint8 images as floats in [0, 1] (what the backbones are trained on)."""
    return split.images.float().div_(255.0)


def measure(
    spec: BackboneSpec,
    settings: Mapping[str, Any],
    seed: int,
    splits: Mapping[str, ImageSplit],
    images: torch.Tensor,
    folders: Mapping[str, Path],
    results_root: str | Path | None,
    progress: bool = False,
) -> dict[str, Any]:
    """Load a finished backbone, measure it, write its record and return it as read back.

    ``images`` are the float training images (:func:`float_images`), ``folders`` maps
    "work" to the profile's checkpoint folder and "records" to its records folder. The
    record holds ``backbone`` (the payload's entry: ``spec``, ``setting``, ``source``,
    ``history``, ``training_seconds``), ``model`` (:func:`~.evaluate.evaluate_backbone`),
    ``weights`` (:func:`toposhape.training.state_digest`) and ``evaluation_seconds``.
    """
    model, history, source = load_backbone(spec, settings, folders["work"], results_root, images)
    started = time.perf_counter()
    evaluation = evaluate_backbone(
        model,
        spec,
        splits,
        settings,
        seed,
        keeps_latent(spec, seed),
        progress,
    )
    record = {
        "format": RECORD_FORMAT,
        "backbone": {
            "spec": asdict(spec),
            "setting": spec.setting,
            "source": source,
            "history": history,
            "training_seconds": history_seconds(history),
        },
        "model": evaluation,
        "weights": state_digest(model),
        "evaluation_seconds": round(time.perf_counter() - started, 2),
    }
    key = record_key(spec, settings, seed, splits)
    save_record(folders["records"], spec.name, key, record)
    saved = load_record(folders["records"], spec.name, key)  # the JSON form, as a rerun reads it
    if saved is None:
        raise RuntimeError(f"the record of {spec.name} was written but cannot be read back")
    return saved


def state(
    spec: BackboneSpec,
    settings: Mapping[str, Any],
    seed: int,
    splits: Mapping[str, ImageSplit],
    folders: Mapping[str, Path],
    results_root: str | Path | None,
) -> str:
    """Where a backbone stands: ``"done (record)"`` (a record of this key),
    ``"trained, not recorded"`` (a finished checkpoint here or the one-class study's),
    ``"partial (E/N epochs)"`` (a checkpoint of E of the profile's N epochs) or ``"missing"``.

    Arguments as :func:`collect`'s.
    """
    key = record_key(spec, settings, seed, splits)
    if load_record(folders["records"], spec.name, key) is not None:
        return "done (record)"
    if is_finished(spec, settings, folders["work"], results_root):
        return "trained, not recorded"
    epochs = trained_epochs(spec, folders["work"])
    return f"partial ({epochs}/{settings['epochs']} epochs)" if epochs else "missing"


def collect(
    specs: list[BackboneSpec],
    settings: Mapping[str, Any],
    seed: int,
    splits: Mapping[str, ImageSplit],
    folders: Mapping[str, Path],
    results_root: str | Path | None,
    train: bool,
    progress: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict[str, dict[str, Any]]:
    """The record of every backbone of ``specs`` that has one now (those missing: pending).

    A backbone whose record (of this key, :func:`record_key`) is in ``folders["records"]``
    is neither trained nor loaded. Every other one with a finished checkpoint (here or shared
    with the one-class study) is measured and recorded first, before any training, so that a
    run interrupted after a backbone finished training records it at once on resuming. With
    ``train``, the rest are then trained (:func:`~.backbones.train_missing`, in ``specs``'
    order) and each is measured and recorded as soon as it has finished.

    Parameters
    ----------
    specs : list of BackboneSpec
    settings : mapping
        The profile's settings.
    seed : int
        The run's base seed.
    splits : mapping
        "train" and "test" splits as the profile reads them.
    folders : mapping
        "work" (checkpoints) and "records" (committed records) of the profile.
    results_root : path or None
        Where the one-class study's work folder is looked up.
    train : bool
        Train the backbones that are not finished.
    progress : bool
    log : callable or None
        Receives a line per backbone measured.

    Returns
    -------
    dict
        Backbone name → record (:func:`measure`), for the backbones recorded, in no order.
    """
    say = log or (lambda _msg: None)
    images = cache(lambda: float_images(splits["train"]))
    done = {}
    for spec in specs:
        key = record_key(spec, settings, seed, splits)
        if (saved := load_record(folders["records"], spec.name, key)) is not None:
            done[spec.name] = saved
    if done:
        say(f"read {len(done)} backbone records from {folders['records']}")

    def record(spec: BackboneSpec) -> None:
        done[spec.name] = measure(
            spec, settings, seed, splits, images(), folders, results_root, progress
        )
        say(f"measured {spec.name}; its record is written")

    for spec in specs:  # finished before this run (an interrupted one): recorded first
        if spec.name not in done and is_finished(spec, settings, folders["work"], results_root):
            record(spec)
    missing = [s for s in specs if s.name not in done]
    if train and missing:
        train_missing(
            missing, settings, seed, folders["work"], results_root, images, progress, log, record
        )
    return done
