"""Benchmarks: served model against raw ONNX Runtime (`python -m scripts.bench`)."""
