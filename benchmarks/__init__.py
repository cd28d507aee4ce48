"""Benchmarks of toposhape: 0-dim persistence against peers, and the training-step overhead.

Run all with ``python -m benchmarks`` (``make bench``); see ``benchmarks/README.md``.
"""
