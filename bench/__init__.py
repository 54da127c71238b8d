"""gpunet benchmarks: pytest-benchmark suites (``pytest bench --benchmark-enable``) and ``python -m bench``."""
