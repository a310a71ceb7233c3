"""The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`), as Triton's clients call it.

Served by grpcio's asyncio server inside the HTTP server's process and event loop,
over the same repository, batcher, limits, metrics and statistics.
"""
