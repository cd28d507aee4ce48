"""The chapter "Controlling connectivity" (Hofer et al., ICML 2019), split by what it does.

``run``
    The chapter's ``CHAPTER`` name, ``RECIPE`` and ``PROFILES``, and :func:`~.run.run`,
    which trains the two MNIST autoencoders (λ = 0 and λ = 20) and builds the results
    payload from the modules below. No plotting.
``toy``
    The two pictures: a multi-scale 2-D arrangement homogenised by the connectivity loss
    (with the Gaussian KDEs drawn of it), and a small cloud with its death times and edges.
``deaths``
    Death times of latent codes: argument checks, summary statistics, held-out batches.
``theory``
    The paper's three theory claims, measured: differentiability (gradcheck, finite
    differences), the batch size, densification.
``report``
    A payload in, the page out: ``figures``, ``tables``, ``findings`` and the scorecard's
    ``claims``. No training.
``plots``
    The figures ``report.figures`` collects, one function each, at the page's width.
"""
