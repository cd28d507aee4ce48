"""The chapter "Natural clustering: the N-VAE" (Antorán & Miguel, ICMLA 2019).

:mod:`~toposhape.studies.nvae.run`
    The experiments: ``PROFILES``, ``CHAPTER``, the shared ``RECIPE`` and ``MODELS``, and
    :func:`~toposhape.studies.nvae.run.run`, which trains the N-VAE, VAE, β-VAE and CVAE on
    MNIST and Fashion-MNIST, measures them and returns the results payload (including the
    classifiers trained on generated images). No plotting.
:mod:`~toposhape.studies.nvae.report`
    A payload in, the reader's view out: the chapter's figures, its tables as DataFrames,
    its findings sentences and ``claims(load)``, the slides' claims judged for the
    reproduction scorecard. No training.

The models themselves live in :mod:`toposhape.nvae`, the Extended Yale B loader in
:mod:`toposhape.yale`.
"""
