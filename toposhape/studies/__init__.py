"""The book's studies: one sub-package per chapter, each split in two.

``<chapter>/run.py``
    The experiments: the chapter's ``PROFILES`` and ``CHAPTER`` name, and the code that
    trains, measures and returns the results payload that :func:`toposhape.results.save_results`
    writes to ``results/<chapter>/<profile>.json``. No plotting.
``<chapter>/report.py``
    A results payload in, a reader's view out: ``figures(payload)`` (matplotlib figures
    drawn with :mod:`toposhape.studies.style`), ``tables(payload)`` (pandas DataFrames),
    the chapter's findings, and ``claims(load)`` for the reproduction scorecard
    (:mod:`toposhape.studies.scorecard`). No training.

Shared by every chapter: :mod:`~toposhape.studies.style` (one look for every figure),
:mod:`~toposhape.studies.present` (how a notebook shows results: glued, captioned figures,
tables, the line that says where the numbers came from) and :mod:`~toposhape.studies.study`
(a long study's profiles and folders, checked in one place).
"""
