"""The chapter "MSimCLR": SimCLR against SimCLR on an atlas at low dimension d.

:mod:`~toposhape.studies.msimclr.schedule`
    The model grid (:func:`schedule.model_keys`), the priority order it is trained in
    (:func:`schedule.training_plan`) and the convergence criterion
    (:func:`schedule.stop_point`).
:mod:`~toposhape.studies.msimclr.run`
    The experiments: ``PROFILES``, ``CHAPTER``, :func:`run.fit` (train one model until the
    criterion stops it, resuming from its checkpoint, which is git-ignored),
    :func:`run.train` and its command line (every model of a profile without a record, in
    priority order; each finished model is evaluated at once and its small record
    committed under ``results/msimclr/<profile>/records``) and :func:`run.run`, which
    builds the payload from the records, recording what has none. No plotting.
:mod:`~toposhape.studies.msimclr.evaluate`
    The same linear and k-NN probes for every model and both floors (PCA of the pixels,
    the untrained network), the reference's per-chart probes, the collapsed-head
    diagnostic: what a model's record and a dataset's floors record hold, and the payload
    entry built from them. No training.
:mod:`~toposhape.studies.msimclr.compare`
    Accuracies across seeds, the noise rule every comparison follows, and how both print.
:mod:`~toposhape.studies.msimclr.pairs`
    The comparisons the claims read: ``low_d`` and ``mmd_alone``.
:mod:`~toposhape.studies.msimclr.budget`
    The reference's training (``REFERENCE``) and this chapter's against it: ``budgets``,
    ``cost``, ``stopping`` (sentences) and ``training_seconds``.
:mod:`~toposhape.studies.msimclr.floors`
    The findings on stuck runs (``STUCK``) and on the models the claims read against the
    floors.
:mod:`~toposhape.studies.msimclr.figures` and :mod:`~toposhape.studies.msimclr.report`
    A payload in, the reader's view out: figures, ``tables`` (DataFrames), ``setup``,
    ``missing`` and ``findings`` (sentences) and ``claims`` for the scorecard. No training.
"""
