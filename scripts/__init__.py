"""Developer tools: the load-test client (`python -m scripts.loadtest`) and benchmarks."""
