"""The benchmarks page ("How fast is the persistence kernel?"), which has no experiments here.

The timing is done by the ``benchmarks`` package (``make bench``), which writes
``results/bench/*.json``; this sub-package only shows it.

``report``
    Those records in, the page out: ``load_records``, ``tables`` (DataFrames), ``figures``
    (peer / ours and ours / floor against the cloud size) and ``findings`` (which speed
    targets are met). No timing.
"""
