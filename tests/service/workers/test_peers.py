from __future__ import annotations

import asyncio

from service.workers.peers import ask, merge_metrics, merge_statistics

WORKER_A = """# HELP nv_inference_count Number of inferences
# TYPE nv_inference_count counter
nv_inference_count{model="m",version="1"} 3
# HELP ortserve_batch_size Items per batch
# TYPE ortserve_batch_size histogram
ortserve_batch_size_bucket{le="1.0",model="m",version="1"} 2
ortserve_batch_size_bucket{le="+Inf",model="m",version="1"} 3
ortserve_batch_size_sum{model="m",version="1"} 4.5
ortserve_batch_size_count{model="m",version="1"} 3
# HELP ortserve_model_info Loaded model versions
# TYPE ortserve_model_info gauge
ortserve_model_info{model="m",provider="CPUExecutionProvider",version="1"} 1
"""
WORKER_B = """# HELP nv_inference_count Number of inferences
# TYPE nv_inference_count counter
nv_inference_count{model="m",version="1"} 4
nv_inference_count{model="n",version="2"} 1
# HELP ortserve_batch_size Items per batch
# TYPE ortserve_batch_size histogram
ortserve_batch_size_bucket{le="1.0",model="m",version="1"} 1
ortserve_batch_size_bucket{le="+Inf",model="m",version="1"} 4
ortserve_batch_size_sum{model="m",version="1"} 0.25
ortserve_batch_size_count{model="m",version="1"} 4
# HELP ortserve_model_info Loaded model versions
# TYPE ortserve_model_info gauge
ortserve_model_info{model="m",provider="CPUExecutionProvider",version="1"} 1
"""


def test_counters_and_histograms_are_summed_and_families_stay_together():
    assert merge_metrics([WORKER_A, WORKER_B]).splitlines() == [
        "# HELP nv_inference_count Number of inferences",
        "# TYPE nv_inference_count counter",
        'nv_inference_count{model="m",version="1"} 7',
        'nv_inference_count{model="n",version="2"} 1',
        "# HELP ortserve_batch_size Items per batch",
        "# TYPE ortserve_batch_size histogram",
        'ortserve_batch_size_bucket{le="1.0",model="m",version="1"} 3',
        'ortserve_batch_size_bucket{le="+Inf",model="m",version="1"} 7',
        'ortserve_batch_size_sum{model="m",version="1"} 4.75',
        'ortserve_batch_size_count{model="m",version="1"} 7',
        "# HELP ortserve_model_info Loaded model versions",
        "# TYPE ortserve_model_info gauge",
        'ortserve_model_info{model="m",provider="CPUExecutionProvider",version="1"} 1',  # info: not a count
    ]


def _stats(name, version, success, last, batches):
    return {"name": name, "version": version, "last_inference": last, "inference_count": success,
            "execution_count": len(batches),
            "inference_stats": {"success": {"count": success, "ns": 100 * success}},
            "batch_stats": [{"batch_size": b, "compute_infer": {"count": 1, "ns": 10}} for b in batches],
            "memory_usage": []}


def test_statistics_are_summed_per_version_with_the_latest_inference_time():
    merged = merge_statistics([
        {"model_stats": [_stats("m", "1", 2, 1000, [1, 4])]},
        {"model_stats": [_stats("m", "1", 3, 2000, [4, 8]), _stats("m", "2", 1, 500, [1])]},
    ])
    m1, m2 = merged["model_stats"]
    assert (m1["name"], m1["version"], m1["last_inference"], m1["inference_count"]) == ("m", "1", 2000, 5)
    assert m1["inference_stats"]["success"] == {"count": 5, "ns": 500}
    assert [(b["batch_size"], b["compute_infer"]["count"]) for b in m1["batch_stats"]] == [(1, 1), (4, 2), (8, 1)]
    assert (m2["version"], m2["inference_count"]) == ("2", 1)


def test_asking_a_socket_nobody_listens_on_is_none(tmp_path):
    assert asyncio.run(ask(tmp_path / "absent.sock", "GET", "/metrics", [], b"", 1.0)) is None


def test_ask_sends_the_forwarded_headers_and_reads_the_answer(tmp_path):
    path = tmp_path / "w.sock"
    seen = []

    async def scenario():
        async def handle(reader, writer):
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b'HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}')
            writer.close()

        server = await asyncio.start_unix_server(handle, str(path))
        async with server:
            headers = [(b"authorization", b"Bearer t"), (b"cookie", b"secret")]
            return await ask(path, "POST", "/v2/repository/models/m/load", headers, b"", 5.0)

    answer = asyncio.run(scenario())
    assert (answer.status, answer.body) == (201, b"{}")
    assert b"POST /v2/repository/models/m/load HTTP/1.1" in seen[0] and b"authorization: Bearer t" in seen[0]
    assert b"cookie" not in seen[0]
