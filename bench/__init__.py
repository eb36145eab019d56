"""cnnlib's benchmark suite: ``python -m bench <name>`` (``python -m bench list`` names them).

Benchmarks are not tests: they print JSON lines, append a dated section to
``docs/BENCHMARKS.md`` and never assert on time.
"""
