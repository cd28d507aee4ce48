"""The chapter "Atlases" (Korman, "Autoencoding topology", 2018): the study behind
``book/atlas.ipynb``.

``run``
    The experiments: ``PROFILES``, ``CHAPTER``, the atlas fits to known manifolds, to the
    3-torus (intrinsic dimension) and to MNIST, and :func:`~toposhape.studies.atlas.run.run`,
    which returns the payload saved to ``results/atlas/<profile>.json``. No plotting.
``plots``
    One function per figure, each drawn from a payload alone.
``report``
    A payload in, the reader's view out: ``figures``, ``tables`` (DataFrames), ``findings``
    and ``claims`` for the reproduction scorecard. No training.
"""
