"""The chapter "One-class learning" (Hofer et al., ICML 2019): experiments and report.

Experiments (they train and measure; no plotting):

``protocol``
    The reference recipe, the checks of a profile's settings, the backbones a profile trains.
``train``
    Training the backbones: data as a profile reads it, worker processes, checkpoint files,
    locks, and the check that an interrupted training resumes exactly.
``evaluate``
    η-ball AUROCs of a backbone, the baselines, the calibrated radius, cached evaluations.
``run``
    ``PROFILES``, ``CHAPTER``, ``get_profile``, ``run`` (the payload) and the command line
    ``python -m toposhape.studies.oneclass.run train <profile>``.

Report (a payload in, what the chapter shows out; no training):

``anchors``
    The reference's own numbers and the cells that cannot be run here.
``summary``
    Checks of a payload, seed statistics, the noise rule, labels of what was read.
``tables``, ``figures``, ``findings``, ``reading``
    DataFrames, figures drawn at the page's size, sentences, paragraphs.
``report``
    ``tables``, ``figures``, ``findings``, the readings, the page's figures and ``claims``
    for the reproduction scorecard.
"""
