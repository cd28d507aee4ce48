"""The chapter "Natural clustering: the N-VAE" (Antorán & Miguel, ICMLA 2019).

:mod:`~toposhape.studies.nvae.run`
    ``PROFILES``, ``CHAPTER``, :func:`~toposhape.studies.nvae.run.run` (every number of the
    chapter as a payload) and the command line that trains a profile's models ahead of it.
:mod:`~toposhape.studies.nvae.grid`
    The models (N-VAE with β_c = 1 and 4, CVAE, VAE; seeds), their training order, the data
    splits and training to convergence.
:mod:`~toposhape.studies.nvae.measure`
    The measures of one trained model: likelihoods, shared factors, MMD² to the prior,
    samples scored by a real-data classifier, classifiers trained on generated images.
:mod:`~toposhape.studies.nvae.records`
    The committed record of each finished model (and of each dataset): everything the
    chapter reads from it, so a profile trained over several sessions and machines
    accumulates.
:mod:`~.summary`, :mod:`~.figures`, :mod:`~.report`
    A payload in, the reader's view out: seed statistics and the noise rule, the figures,
    tables, findings and ``claims(load)`` for the scorecard. No training.
:mod:`~toposhape.studies.nvae.standin`
    A synthetic stand-in for Extended Yale B (smoke profile and tests).

The models themselves live in :mod:`toposhape.nvae`, the Extended Yale B loader in
:mod:`toposhape.yale`.
"""
