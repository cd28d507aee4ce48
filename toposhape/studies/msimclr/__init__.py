"""The chapter "MSimCLR": SimCLR against SimCLR on an atlas at low dimension d.

:mod:`~toposhape.studies.msimclr.run`
    The experiments: ``PROFILES``, ``CHAPTER``, the model grid (:func:`run.model_keys`),
    training every SimCLR and MSimCLR model of a profile (:func:`run.train_models`), the
    collapsed-head diagnostic (:func:`run.alive_units`, :func:`run.collapsed_heads`) and
    :func:`run.run`, which evaluates every model and returns the payload. No plotting.
:mod:`~toposhape.studies.msimclr.report`
    A payload in, the reader's view out: ``figures`` (accuracy against d, chart use, the
    d = 2 embeddings), ``tables`` (DataFrames), ``findings``, ``setup`` (what was run, and
    at what share of the reference's budget) and ``claims`` for the scorecard. No training.
"""
