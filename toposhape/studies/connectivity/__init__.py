"""The chapter "Controlling connectivity" (Hofer et al., ICML 2019), split by what it does.

Compute (no plotting):

``run``
    The chapter's ``CHAPTER`` name and ``PROFILES``, :func:`~.run.run` (the payload) and the
    command line (``python -m toposhape.studies.connectivity.run train full``, ``status full``).
``backbones``
    The ``RECIPE``; which MNIST autoencoders a profile trains (λ = 20 at several batch
    sizes, λ = 0 at B = 100, several seeds), in priority order, with the one-class study's
    trainer; the B = 100 ones are read from the one-class study when it has trained them.
``evaluate``
    What is measured on one trained autoencoder.
``records``
    One committed record per finished autoencoder (its curves and measurements), written
    as soon as it finishes; the chapter reads them instead of checkpoints.
``deaths``, ``covering``, ``densify``
    Death times of held-out batches; greedy η-nets and partial covering numbers (metric
    entropy); codes of a class within η of its test codes.
``toy``, ``theory``
    The two toy pictures; the differentiability check.
``control``
    The batch-size guideline's control: ideal clouds rescaled so that their batches of B
    die at η, and their covering numbers.

Report (a payload in, the page out; no training):

``summary``
    Numbers across seeds and the verdict rules.
``report``
    ``figures``, ``tables``, ``findings`` and the scorecard's ``claims``, from
    ``plots`` and ``sweep_plots`` (figures), ``tables``, ``findings`` and ``claims``.
"""
