"""The committed stubs are exactly what `python -m scripts.grpc_stubs` generates from the .proto."""

from __future__ import annotations

from scripts import grpc_stubs


def test_committed_stubs_match_a_fresh_generation():
    fresh = grpc_stubs.generate(grpc_stubs.OUT_DIR)
    committed = {p.name: p.read_text() for p in grpc_stubs.OUT_DIR.iterdir() if p.is_file()}
    assert fresh.keys() == committed.keys()
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"regenerate with `python -m scripts.grpc_stubs`: {stale}"


def test_stubs_live_in_a_private_pool_beside_tritonclient():
    import tritonclient.grpc.service_pb2 as triton  # registers inference.* in the default pool

    from service.grpc._generated import grpc_service_pb2 as ours

    assert ours.ModelInferRequest.DESCRIPTOR.file.pool is not triton.ModelInferRequest.DESCRIPTOR.file.pool
    # Same field numbers as Triton's: our bytes decode as its message.
    raw = ours.ModelInferRequest(model_name="m", raw_input_contents=[b"\x01"]).SerializeToString()
    assert triton.ModelInferRequest.FromString(raw).raw_input_contents == [b"\x01"]
