from __future__ import annotations

import numpy as np

from service.core.batch_results import Result
from service.core.statistics import Statistics


def test_document_has_triton_shape_with_counts_and_nanoseconds():
    s = Statistics()
    s.of("m", "1").on_batch(3, 0.002, input_s=0.0003, output_s=0.0001)
    s.of("m", "1").on_batch(1, 0.001, input_s=0.0001, output_s=0.00005)
    result = Result({"y": np.zeros(1)}, queue_s=0.001, compute_s=0.002, batch_rows=3, input_s=0.0003,
                    output_s=0.0001)
    for _ in range(4):
        s.of("m", "1").on_success(total_s=0.004, result=result)
    s.of("m", "1").on_failure(total_s=0.0005)
    doc = s.document([("m", "1")])
    (stats,) = doc["model_stats"]
    assert stats["name"] == "m" and stats["version"] == "1" and stats["last_inference"] > 0
    assert stats["inference_count"] == 4 and stats["execution_count"] == 2
    inference = stats["inference_stats"]
    assert inference["success"] == {"count": 4, "ns": 16_000_000}
    assert inference["fail"] == {"count": 1, "ns": 500_000}
    assert inference["queue"] == {"count": 4, "ns": 4_000_000}
    assert inference["compute_infer"] == {"count": 4, "ns": 8_000_000}
    assert inference["compute_input"] == {"count": 4, "ns": 1_200_000}
    assert inference["compute_output"] == {"count": 4, "ns": 400_000}
    assert set(inference) == {
        "success", "fail", "queue", "compute_input", "compute_infer", "compute_output", "cache_hit", "cache_miss",
    }
    assert stats["batch_stats"] == [
        {"batch_size": 1, "compute_input": {"count": 1, "ns": 100_000}, "compute_infer": {"count": 1, "ns": 1_000_000},
         "compute_output": {"count": 1, "ns": 50_000}},
        {"batch_size": 3, "compute_input": {"count": 1, "ns": 300_000}, "compute_infer": {"count": 1, "ns": 2_000_000},
         "compute_output": {"count": 1, "ns": 100_000}},
    ]


def test_a_version_without_traffic_reports_zeros():
    (stats,) = Statistics().document([("m", "2")])["model_stats"]
    assert stats["inference_count"] == 0 and stats["batch_stats"] == []
    assert stats["inference_stats"]["success"] == {"count": 0, "ns": 0}
