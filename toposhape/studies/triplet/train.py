"""Training and evaluating one job of the triplet study, resumably.

A model's files live in ``<work>/<dataset>/seed<seed>/``:

* ``<key>.pt``: the per-epoch checkpoint of :func:`~toposhape.triplet.train_triplet`
  (written atomically after every epoch, with the epoch's validation and held-out R@1);
* ``<key>.best.pt``: the weights of the epoch with the best validation R@1 so far (the
  model the chapter keeps), written atomically when that epoch ends;
The finished model's record (its history, the kept epoch, and its retrieval metrics on
the held-out classes for every read) is committed, not kept with the checkpoints: it is
``<results>/triplet/<profile>/records/<dataset>-seed<seed>-<key>.json``
(:func:`toposhape.results.records_dir`). Its presence marks the job done, so a profile
trained over several sessions on fresh machines accumulates; it is written last. The
compression study of a seed's 64-d embedding writes ``...-compression.json`` there.
"""

import io
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toposhape.compression import compression_table, fit_atlas_to_embedding
from toposhape.contrastive import SmallConvNet
from toposhape.results import atomic_write_bytes, load_record, save_record
from toposhape.studies.triplet.data import Split
from toposhape.studies.triplet.protocol import Job, ModelSpec, model_specs, plateaued
from toposhape.training import history_seconds, seeded
from toposhape.triplet import (
    Embedder,
    EuclideanEmbedder,
    ManifoldEmbedder,
    TripletConfig,
    embed,
    embedding_distance,
    hard_read,
    retrieval_metrics,
    train_triplet,
)

__all__ = [
    "KS",
    "RECORD_FORMAT",
    "build_model",
    "compression_study",
    "read_record",
    "record_path",
    "records_folder",
    "retrieval",
    "run_job",
    "train_model",
    "triplet_config",
]

#: Format tag of the records this module writes.
RECORD_FORMAT = "toposhape-triplet-record/1"
#: The k of every reported Recall@k (models and floors alike).
KS = (1, 2, 4, 8)
_RETRAIN = "delete the model's files in its folder to train it again"


def job_dir(folder: Path, job: Job) -> Path:
    """``<folder>/<dataset>/seed<seed>``: where a job's files live."""
    return Path(folder) / job.dataset / f"seed{job.seed}"


def records_folder(folder: Path) -> Path:
    """The committed records folder beside the work folder ``folder``.

    ``folder`` is the profile's work folder ``<results>/triplet/<profile>/_work``; its
    records are in ``<results>/triplet/<profile>/records``.
    """
    return Path(folder).parent / "records"


def record_path(folder: Path, job: Job) -> Path:
    """The record that marks a job done, in the records folder beside ``folder``:
    ``<results>/triplet/<profile>/records/<dataset>-seed<seed>-<key>.json``."""
    return records_folder(folder) / f"{_record_name(job)}.json"


def _record_name(job: Job) -> str:
    return f"{job.dataset}-seed{job.seed}-{job.key}"


def _record_key(job: Job) -> dict[str, str]:
    return {"format": RECORD_FORMAT, "job": job.name}


def read_record(folder: Path, job: Job) -> dict[str, Any] | None:
    """A finished job's record, or None if the job has not finished."""
    path = record_path(folder, job)
    return load_record(path.parent, _record_name(job), _record_key(job))


def _write_record(folder: Path, job: Job, record: Mapping[str, Any]) -> None:
    save_record(record_path(folder, job).parent, _record_name(job), _record_key(job), record)


def build_model(spec: ModelSpec, settings: Mapping[str, Any], channels: int, seed: int) -> Embedder:
    """The model of ``spec``, its backbone initialised from ``seed``.

    Every model of a seed starts from the same backbone weights
    (``SmallConvNet(channels, settings["backbone_width"])`` drawn first after
    ``torch.manual_seed(seed)``; the global generator is restored afterwards).
    """
    with seeded(seed):
        backbone = SmallConvNet(channels, settings["backbone_width"])
        if spec.kind == "euclidean":
            return EuclideanEmbedder(backbone, spec.width, normalise=spec.normalise)
        return ManifoldEmbedder(backbone, spec.charts, spec.width)


def triplet_config(spec: ModelSpec, settings: Mapping[str, Any], seed: int) -> TripletConfig:
    """The profile's recipe with the model's MMD weight and the training seed."""
    return TripletConfig(
        epochs=settings["epochs"],
        classes_per_batch=settings["classes_per_batch"],
        per_class=settings["per_class"],
        lr=settings["lr"],
        optimiser=settings["optimiser"],
        mmd_weight=spec.mmd_weight,
        seed=seed,
        steps_per_epoch=settings["steps_per_epoch"],
    )


def retrieval(
    model: Embedder, spec: ModelSpec, split: Split, per_epoch: bool = False
) -> dict[str, dict[str, float]]:
    """Retrieval metrics of every read of the model, the split's images among themselves.

    One forward pass; the hard read is :func:`~toposhape.triplet.hard_read` of the packed
    codes under the same chart distance. ``per_epoch``: R@1 (and precision@1) only, the
    cheap check after every epoch; otherwise R@k for k in :data:`KS` and MAP@R.

    Returns
    -------
    dict
        Read (``spec.reads``) → :func:`~toposhape.triplet.retrieval_metrics`.
    """
    emb = embed(model, split.images)
    distance = embedding_distance(model)
    out = {}
    for read in spec.reads:
        codes = hard_read(emb, spec.charts, spec.width) if read == "hard" else emb
        out[read] = retrieval_metrics(
            codes,
            split.labels,
            distance=distance,
            ks=(1,) if per_epoch else KS,
            map_at_r=not per_epoch,
        )
    return out


def _torch_bytes(value: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _read_best(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        raise ValueError(f"best weights {path} are unreadable ({err}); {_RETRAIN}") from err


def _points(model: Embedder, split: Split, n: int) -> dict[str, Any]:
    """The first n held-out images in their chart (argmax q) of a 2-d atlas."""
    with torch.no_grad():
        codes = model.eval()(split.images[:n])
    chart = codes.q.argmax(dim=1)
    coords = codes.coords[torch.arange(len(chart)), chart]
    return {
        "coords": np.round(coords.numpy(), 4).tolist(),
        "charts": chart.tolist(),
        "labels": split.labels[:n].tolist(),
    }


def train_model(
    job: Job,
    splits: Mapping[str, Split],
    settings: Mapping[str, Any],
    folder: Path,
    progress: bool = False,
    need_weights: bool = False,
) -> dict[str, Any]:
    """Train (or resume, or just read) one model; its record (see the module docstring).

    After every epoch the validation R@1 (``splits["validation"]``, the model's first
    read) and the held-out R@1 of every read (``splits["test"]``) join the history; the
    weights of the epoch with the best validation R@1 (the first, on ties) are kept, and
    the record holds their retrieval metrics on the held-out classes.

    With ``need_weights``, a model whose record is committed but whose kept weights are
    not on this machine (a fresh machine) is trained again (seeded, so to the same model),
    and its record rewritten.
    """
    spec = job.spec
    if spec is None:
        raise ValueError(f"job {job.name} trains no model")
    where = job_dir(folder, job)
    checkpoint, best_file = where / f"{spec.key}.pt", where / f"{spec.key}.best.pt"
    done = read_record(folder, job)
    if done is not None and (not need_weights or best_file.is_file()):
        return done
    where.mkdir(parents=True, exist_ok=True)
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    model = build_model(spec, settings, train.images.shape[1], job.seed)
    if not checkpoint.exists():
        best_file.unlink(missing_ok=True)  # from a run whose checkpoint was deleted
    best = {"value": _read_best(best_file)["validation"] if best_file.exists() else -1.0}

    def on_epoch(epoch: int) -> dict[str, float]:
        started = time.perf_counter()
        value = retrieval(model, spec, validation, per_epoch=True)[spec.reads[0]]["recall_at_1"]
        held_out = retrieval(model, spec, test, per_epoch=True)
        if value > best["value"]:
            state = {"epoch": epoch, "validation": value, "state": model.state_dict()}
            atomic_write_bytes(best_file, _torch_bytes(state))
            best["value"] = value
        return {
            "validation_recall_at_1": value,
            **{f"test_{read}_recall_at_1": m["recall_at_1"] for read, m in held_out.items()},
            "eval_seconds": time.perf_counter() - started,
        }

    config = triplet_config(spec, settings, job.seed)
    history = train_triplet(
        model, train.images, train.labels, config, checkpoint=checkpoint, progress=progress,
        on_epoch=on_epoch,
    )  # fmt: skip
    validation_curve = [h["validation_recall_at_1"] for h in history]
    selected = int(np.argmax(validation_curve)) + 1
    kept = _read_best(best_file)
    if kept["epoch"] != selected:
        raise ValueError(
            f"{best_file} holds epoch {kept['epoch']}, but the best validation R@1 of "
            f"{checkpoint} is at epoch {selected}; {_RETRAIN}"
        )
    model.load_state_dict(kept["state"])
    record = {
        "format": RECORD_FORMAT,
        "profile": job.profile,
        "dataset": job.dataset,
        "seed": job.seed,
        "key": spec.key,
        "spec": asdict(spec),
        "bytes": {read: spec.bytes(read) for read in spec.reads},
        "metrics": retrieval(model, spec, test),
        "history": history,
        "selected_epoch": selected,
        "converged": plateaued(validation_curve),
        "training_seconds": history_seconds(history),
        "config": asdict(config),
        "model": model.config,
        "data": {name: splits[name].record for name in ("train", "validation", "test")},
    }
    if spec.kind == "atlas" and spec.width == 2 and spec.charts > 1 and settings["plot_points"]:
        record["points"] = _points(model, test, settings["plot_points"])
    _write_record(folder, job, record)
    return record


def _wide_model(
    job: Job, splits: Mapping[str, Split], settings: Mapping[str, Any], folder: Path,
    progress: bool,
) -> Embedder:  # fmt: skip
    """The seed's kept ``wide-normalised`` model (it must have finished; its weights are
    trained again if only its record is on this machine)."""
    spec = next(s for s in model_specs(settings) if s.key == "wide-normalised")
    source = Job(job.profile, job.dataset, job.seed, spec)
    if read_record(folder, source) is None:
        raise ValueError(f"{job.name} needs {source.name}, which has not finished")
    train_model(source, splits, settings, folder, progress, need_weights=True)
    model = build_model(spec, settings, splits["train"].images.shape[1], job.seed)
    model.load_state_dict(_read_best(job_dir(folder, source) / f"{spec.key}.best.pt")["state"])
    return model.eval()


def compression_study(
    job: Job,
    splits: Mapping[str, Split],
    settings: Mapping[str, Any],
    folder: Path,
    progress: bool = False,
) -> dict[str, Any]:
    """Compressed stores of the seed's 64-d normalised embedding (or read the finished one).

    The database is ``splits["database"]`` (training-split images of the held-out
    classes), the queries the first ``compression["queries"]`` held-out test images. For
    every (k, d) of ``compression["configs"]`` an atlas autoencoder is fitted to the
    database vectors (:func:`~toposhape.compression.fit_atlas_to_embedding`, seeded by the
    job's seed) and :func:`~toposhape.compression.compression_table` compares its store
    with float32 and faiss's stores of the same bytes, with the class Recall@1 of each.
    """
    done = read_record(folder, job)
    if done is not None:
        return done
    started = time.perf_counter()
    comp = settings["compression"]
    model = _wide_model(job, splits, settings, folder, progress)
    database = splits["database"]
    queries = splits["test"]
    n = min(comp["queries"], len(queries.labels))
    db_emb, query_emb = embed(model, database.images), embed(model, queries.images[:n])
    labels = (database.labels.numpy(), queries.labels[:n].numpy())
    rows = []
    for charts, dim in comp["configs"]:
        atlas = fit_atlas_to_embedding(db_emb, charts, dim, comp["epochs"], job.seed, progress)
        with torch.no_grad():
            db_codes, query_codes = atlas.encode(db_emb), atlas.encode(query_emb)
        table = compression_table(
            db_emb, query_emb, db_codes, query_codes, labels=labels, seed=job.seed
        )
        rows += [{"charts": charts, "dim": dim, **row} for row in table]
    record = {
        "format": RECORD_FORMAT,
        "profile": job.profile,
        "dataset": job.dataset,
        "seed": job.seed,
        "key": job.key,
        "embedding": "wide-normalised",
        "database": len(database.labels),
        "queries": n,
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "data": {name: splits[name].record for name in ("database", "test")},
    }
    _write_record(folder, job, record)
    return record


def run_job(
    job: Job,
    splits: Mapping[str, Split],
    settings: Mapping[str, Any],
    folder: Path,
    progress: bool = False,
) -> dict[str, Any]:
    """:func:`train_model` or :func:`compression_study`, whichever the job is."""
    run = compression_study if job.spec is None else train_model
    return run(job, splits, settings, folder, progress)
