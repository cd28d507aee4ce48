"""The chapter "Manifold triplet learning and compressed vector storage" (``book/triplet.ipynb``).

``protocol``
    The profiles, the model grid (spheres, spheres of equal storage, atlases read soft and
    hard, the 64-d study), the training order, the bytes each read stores, and the rules
    fixed before the runs: the noise rule of every comparison and the convergence criterion.
``data``
    The class-disjoint splits: training classes (train, validation) and held-out classes
    (test, the compression study's database).
``train``
    One job at a time, resumable: a model trained with per-epoch checkpoints and its kept
    epoch, or the compression study of a seed's 64-d embedding.
``floors``
    The trivial floors, no training: retrieval on the held-out test images' pixels and on
    their principal components (fitted on the training images) at every width the grid
    stores, one record per dataset.
``run``
    :func:`~toposhape.studies.triplet.run.run` collects a profile's finished jobs and its
    floors into the results payload; the command line records the floors and trains every
    unfinished job in priority order;
    whether the reference's benchmarks (CUB-200-2011, Stanford Cars) are on this machine.
``summary``, ``text``, ``figures``, ``sentences``, ``claims``, ``report``
    A payload in, the chapter out, no training: ``summary`` the numbers across seeds and
    the comparisons, ``text`` the dataset names and ``mean ± std`` they are printed with,
    ``figures`` the figures, ``sentences`` the computed sentences (setup, rules, findings),
    ``claims`` the rows of the reproduction scorecard, and ``report`` the page: the
    figures it places, the tables (DataFrames) and the claims where the scorecard looks.
"""
