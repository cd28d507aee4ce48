"""The chapter "Manifold triplet learning and compressed vector storage" (``book/triplet.ipynb``).

``run``
    The experiments: ``PROFILES``, ``CHAPTER``, the model grid (sphere baseline and atlas
    models at every d and k), the 64-d study, the compressed vector store measured on the
    64-d embedding, and :func:`~toposhape.studies.triplet.run.run`, which trains them and
    returns the results payload; whether the reference's benchmarks (CUB-200-2011,
    Stanford Cars) are on this machine.
``report``
    A payload in, the chapter out: its figures, tables (DataFrames), computed sentences
    and its claims for the reproduction scorecard. No training.
"""
