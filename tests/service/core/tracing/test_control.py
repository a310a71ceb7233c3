"""Triton's trace settings and the per-request sampling decision."""

from __future__ import annotations

import pytest

from service.core.errors import InvalidInput
from service.core.tracing.control import Policy, TraceControl
from service.core.tracing.w3c import Parent

STARTUP = {"trace_level": "OFF", "trace_rate": 1000, "trace_count": -1, "log_frequency": 0}


def sampled(policy: Policy, requests: int, parent: Parent | None = None) -> list[int]:
    return [i for i in range(1, requests + 1) if policy.sample(parent)]


def test_off_samples_nothing():
    assert sampled(Policy("OFF", 1, -1), 10) == []


def test_rate_n_takes_one_request_in_n_by_counting():
    assert sampled(Policy("TIMESTAMPS", 3, -1), 10) == [3, 6, 9]
    assert sampled(Policy("TIMESTAMPS", 1, -1), 4) == [1, 2, 3, 4]


def test_count_bounds_the_traces_taken():
    policy = Policy("TIMESTAMPS", 1, 2)
    assert sampled(policy, 5) == [1, 2]
    assert policy.count == 0


def test_a_parent_decides_by_its_sampled_flag_not_the_rate():
    policy = Policy("TIMESTAMPS", 1000, -1)
    assert sampled(policy, 3, Parent(1, 2, True)) == [1, 2, 3]
    assert sampled(Policy("TIMESTAMPS", 1, -1), 3, Parent(1, 2, False)) == []
    assert sampled(Policy("OFF", 1, -1), 3, Parent(1, 2, True)) == []


def test_document_has_triton_names_and_string_values():
    control = TraceControl(STARTUP)
    assert control.document() == {"trace_level": ["OFF"], "trace_rate": "1000", "trace_count": "-1",
                                  "log_frequency": "0", "trace_mode": "opentelemetry"}
    assert not control.on


def test_server_update_takes_strings_numbers_and_a_bare_level():
    control = TraceControl(STARTUP)
    control.update({"trace_level": ["TIMESTAMPS"], "trace_rate": "10", "trace_count": 5, "log_frequency": "2"})
    assert control.document() == {"trace_level": ["TIMESTAMPS"], "trace_rate": "10", "trace_count": "5",
                                  "log_frequency": "2", "trace_mode": "opentelemetry"}
    assert control.on
    control.update({"trace_level": "off"})
    assert control.document()["trace_level"] == ["OFF"] and not control.on


def test_null_restores_the_startup_value():
    control = TraceControl(STARTUP)
    control.update({"trace_rate": "7"})
    control.update({"trace_rate": None})
    assert control.document()["trace_rate"] == "1000"


def test_a_model_overrides_the_server_and_null_falls_back():
    control = TraceControl(STARTUP)
    control.update({"trace_level": ["TIMESTAMPS"], "trace_rate": "1"}, model="affine")
    assert control.on
    assert control.policy("affine").level == "TIMESTAMPS" and control.policy("other").level == "OFF"
    assert control.document("affine")["trace_rate"] == "1"
    assert control.document("other")["trace_rate"] == "1000"
    control.update({"trace_rate": "50"})  # the server's rate: affine keeps its own
    assert control.document("affine")["trace_rate"] == "1"
    control.update({"trace_level": None, "trace_rate": None}, model="affine")
    assert control.policy("affine") is control.server and not control.on


def test_a_model_without_an_overridden_key_follows_the_server():
    control = TraceControl(STARTUP)
    control.update({"trace_level": ["TIMESTAMPS"]}, model="affine")
    control.update({"trace_rate": "5"})
    assert control.policy("affine").rate == 5


@pytest.mark.parametrize(("changes", "message"), [
    ({"trace_rate": "0"}, "trace setting 'trace_rate' must be a positive integer, e.g. \"1000\" (one request in 1000 is traced), got '0'"),
    ({"trace_rate": "ten"}, "trace setting 'trace_rate' must be a positive integer"),
    ({"trace_rate": True}, "trace setting 'trace_rate' must be a positive integer"),
    ({"trace_count": "-2"}, "trace setting 'trace_count' must be an integer >= -1 (\"-1\": no limit), got '-2'"),
    ({"log_frequency": "--1"}, "trace setting 'log_frequency' must be an integer >= 0"),
    ({"trace_level": ["TENSORS"]}, "trace_level TENSORS is not supported: spans carry timings and attributes, never tensor data; use ['OFF', 'TIMESTAMPS']"),
    ({"trace_level": ["OFF", "TIMESTAMPS"]}, "trace setting 'trace_level' must be one of ['OFF', 'TIMESTAMPS'], got ['OFF', 'TIMESTAMPS']"),
    ({"trace_level": []}, "trace setting 'trace_level' must be a list of levels ['OFF', 'TIMESTAMPS'], got []"),
    ({"trace_file": "/tmp/t.json"}, "trace setting 'trace_file' cannot be changed: the trace mode is opentelemetry"),
    ({"trace_rat": "1"}, "unknown trace setting 'trace_rat'; settings: ['trace_level', 'trace_rate', 'trace_count', 'log_frequency']"),
])
def test_bad_settings_name_the_setting_and_change_nothing(changes, message):
    control = TraceControl(STARTUP)
    with pytest.raises(InvalidInput) as info:
        control.update({"trace_level": ["TIMESTAMPS"], **changes})
    assert info.value.message.startswith(message)
    assert control.document()["trace_level"] == ["OFF"]


def test_log_frequency_is_server_wide():
    with pytest.raises(InvalidInput, match="'log_frequency' is server-wide"):
        TraceControl(STARTUP).update({"log_frequency": "1"}, model="affine")
