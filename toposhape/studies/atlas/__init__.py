"""The chapter "Atlases" (Korman, "Autoencoding topology", 2018): the study behind
``book/atlas.ipynb``.

``run``
    The experiments: ``PROFILES``, ``CHAPTER``, the training command line (models in
    priority order, resumable) and :func:`~toposhape.studies.atlas.run.run`, which reads
    every finished model and returns the payload saved to ``results/atlas/<profile>.json``.
    No plotting.
``readout``
    How an atlas is read: the nerve's barcodes over Z/2 and Z/3 in a window, the long-bar
    threshold chosen on the controls, the per-chart contractibility check.
``controls``
    The read-out applied to hand-built covers (positive and negative controls).
``rules``
    The decision rules fixed before any learned result: Wilson intervals, the homology
    rule on them, the noise rule, the T³ elbow rule.
``failures``
    Why a learned atlas's nerve misses the homology, and whether another threshold the
    controls accept would have read it right.
``plots``
    One function per figure, each drawn from a payload alone.
``report``, ``sentences`` and ``claims``
    A payload in, the reader's view out: ``figures``, ``tables`` (DataFrames), ``findings``
    (the sentences) and ``claims`` for the reproduction scorecard. No training.
"""
