from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

from service.core.batch_results import Result
from service.core.metrics import Metrics


def test_observer_counts_executions_and_items():
    m = Metrics()
    obs = m.observer("m", "1")
    obs.on_batch(4, 0.002)
    obs.on_batch(2, 0.001)
    obs.on_queue_depth(3)
    text = m.render().decode()
    assert 'nv_inference_exec_count{model="m",version="1"} 2\n' in text
    assert 'nv_inference_count{model="m",version="1"} 6\n' in text
    assert 'nv_inference_pending_request_count{model="m",version="1"} 3\n' in text
    assert 'ortserve_batch_size_sum{model="m",version="1"} 6.0' in text
    assert 'ortserve_queue_depth{model="m",version="1"} 3.0' in text
    assert "_created" not in text


def test_request_durations_are_microsecond_counters():
    m = Metrics()
    m.record_success("m", "1", Result({}, queue_s=0.001, compute_s=0.002, batch_rows=1, input_s=0.0003,
                                      output_s=0.0001), total_s=0.005)
    text = m.render().decode()
    assert 'nv_inference_queue_duration_us{model="m",version="1"} 1000\n' in text
    assert 'nv_inference_compute_input_duration_us{model="m",version="1"} 300\n' in text
    assert 'nv_inference_compute_infer_duration_us{model="m",version="1"} 2000\n' in text
    assert 'nv_inference_compute_output_duration_us{model="m",version="1"} 100\n' in text
    assert 'nv_inference_request_duration_us{model="m",version="1"} 5000\n' in text


def test_triton_families_carry_no_total_suffix_and_parse_as_counters():
    m = Metrics()
    m.observer("m", "1").on_batch(3, 0.001)
    m.record_success("m", "1", Result({}, queue_s=0.0, compute_s=0.001, batch_rows=3), total_s=0.002)
    m.record_failure("m", "1", "400", 0.001)
    text = m.render().decode()
    assert "nv_inference_count_total" not in text and "nv_inference_request_success_total" not in text
    assert "# TYPE nv_inference_count counter\n" in text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    failure = families["nv_inference_request_failure"]
    assert failure.type == "counter"
    assert [(s.labels, s.value) for s in failure.samples] == [({"model": "m", "version": "1", "reason": "400"}, 1.0)]
    assert families["nv_inference_pending_request_count"].type == "gauge"


def test_a_triton_style_query_finds_its_series():
    """What a Triton dashboard's PromQL selects: `nv_inference_count{model=..., version=...}`, bare name."""
    m = Metrics()
    for rows in (4, 4, 2):
        m.observer("densenet", "1").on_batch(rows, 0.001)
    text = m.render().decode()
    # sum(nv_inference_count{model="densenet"}) / sum(nv_inference_exec_count{model="densenet"})
    items = re.search(r'^nv_inference_count\{model="densenet",version="1"\} (\S+)$', text, re.MULTILINE)
    execs = re.search(r'^nv_inference_exec_count\{model="densenet",version="1"\} (\S+)$', text, re.MULTILINE)
    assert float(items.group(1)) / float(execs.group(1)) == 10 / 3


def test_model_info_tracks_the_provider_and_forgets_unloaded_versions():
    m = Metrics()
    m.set_model_info("m", "1", "CPUExecutionProvider")
    m.set_model_info("m", "1", "CUDAExecutionProvider")
    text = m.render().decode()
    assert 'provider="CUDAExecutionProvider"' in text and 'provider="CPUExecutionProvider"' not in text
    m.set_model_info("m", "1", None)
    assert "ortserve_model_info{" not in m.render().decode()


def test_label_values_are_escaped():
    m = Metrics()
    m.record_failure("m", "1", 'a"b\\c')
    assert 'reason="a\\"b\\\\c"' in m.render().decode()


def test_out_of_range_inputs_taken_as_sent_are_counted_per_input():
    m = Metrics()
    m.record_out_of_range("m", "1", ["image"])
    m.record_out_of_range("m", "1", ["image", "mask"])
    text = m.render().decode()
    assert "# TYPE ortserve_out_of_range_inputs counter\n" in text
    assert 'ortserve_out_of_range_inputs{model="m",version="1",input="image"} 2\n' in text
    assert 'ortserve_out_of_range_inputs{model="m",version="1",input="mask"} 1\n' in text
