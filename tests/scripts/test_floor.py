"""The rejection floor: the bare protocol answers every whole request once, and a short run
prices ortserve's rejection beside it."""

from __future__ import annotations

import itertools

import pytest

from scripts.reliability import floor


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def request(body: bytes) -> bytes:
    return b"POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def test_bare_protocol_answers_each_request_once_however_the_bytes_arrive():
    protocol, transport = floor.BareProtocol(), Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    stream = request(b'{"a": 1}') + request(b"") + request(b"x" * 300)
    cuts = [0, 5, 40, 41, 200, len(stream)]  # headers and bodies split anywhere, two requests in one read
    for start, end in itertools.pairwise(cuts):
        protocol.data_received(stream[start:end])
    assert transport.written == [floor.BARE_ANSWER] * 3
    assert protocol.buffer == b""


@pytest.mark.slow
def test_a_short_run_prices_a_rejection_and_the_bare_answer():
    report = floor.run(floor.argparse.Namespace(model=None, rate=1500.0, duration=1.0))
    assert report["checks"]["every_answer_a_rejection"], report["ortserve_rejection"]["answers"]
    assert sum(report["ortserve_rejection"]["answers"].values()) >= 1400
    assert set(report["bare_uvloop_answer"]["answers"]) == {"503"}
    for side in ("ortserve_rejection", "bare_uvloop_answer"):
        assert 0 < report[side]["cpu_us_per_answer"] < 5000
        assert report[side]["cpu_us_per_answer"] == pytest.approx(
            report[side]["user_us"] + report[side]["kernel_us"], abs=0.2)
