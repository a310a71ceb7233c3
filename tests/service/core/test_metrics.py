from __future__ import annotations

from service.core.batching import Result
from service.core.metrics import Metrics


def test_observer_counts_executions_and_items():
    m = Metrics()
    obs = m.observer("m", "1")
    obs.on_batch(4, 0.002)
    obs.on_batch(2, 0.001)
    obs.on_queue_depth(3)
    text = m.render().decode()
    assert 'nv_inference_exec_count_total{model="m",version="1"} 2.0' in text
    assert 'nv_inference_count_total{model="m",version="1"} 6.0' in text
    assert 'ortserve_batch_size_sum{model="m",version="1"} 6.0' in text
    assert 'ortserve_queue_depth{model="m",version="1"} 3.0' in text
    assert "_created" not in text


def test_request_durations_are_microsecond_counters():
    m = Metrics()
    m.record_success("m", "1", Result({}, queue_s=0.001, compute_s=0.002, batch_rows=1), total_s=0.005)
    text = m.render().decode()
    assert 'nv_inference_queue_duration_us_total{model="m",version="1"} 1000.0' in text
    assert 'nv_inference_compute_infer_duration_us_total{model="m",version="1"} 2000.0' in text
    assert 'nv_inference_request_duration_us_total{model="m",version="1"} 5000.0' in text


def test_model_info_tracks_the_provider_and_forgets_unloaded_versions():
    m = Metrics()
    m.set_model_info("m", "1", "CPUExecutionProvider")
    m.set_model_info("m", "1", "CUDAExecutionProvider")
    text = m.render().decode()
    assert 'provider="CUDAExecutionProvider"' in text and 'provider="CPUExecutionProvider"' not in text
    m.set_model_info("m", "1", None)
    assert "ortserve_model_info{" not in m.render().decode()
