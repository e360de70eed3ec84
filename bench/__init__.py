"""Benchmarks of nas: ``python bench/run_all.py [--quick] [--only NAME] [--out FILE]``.

One module per benchmark, each with ``run(quick: bool) -> Iterator[dict]``; the registry
is ``run_all.BENCHMARKS``. Results and how to reproduce them: BENCHMARKS.md.
"""
