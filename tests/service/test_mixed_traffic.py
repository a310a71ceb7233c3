"""Mixed traffic against a real server process and real ONNX models.

- Concurrent valid and invalid requests (generated with hypothesis): every valid
  answer equals the answer to the same request sent alone; every invalid one
  gets a 4xx naming its own value and nobody else's.
- BYTES through a real string model over tritonclient, binary and JSON, both ways.
- Early answers (413 before the body is read) reach clients that write the
  whole body first: urllib, requests and tritonclient, at 64 MiB + 1 byte.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request

import httpx
import numpy as np
import pytest
import requests
import tritonclient.http as httpclient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tritonclient.utils import InferenceServerException

from scripts.launcher import ServerProcess
from tests.tiny_models import make_mixed_repository

pytestmark = pytest.mark.slow
LIMIT = 64 * 1024 * 1024  # the server's default max_body_bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(make_mixed_repository(tmp_path_factory.mktemp("mixed"))) as proc:
        yield proc


def body(ids: list[int]) -> dict:
    return {"inputs": [{"name": "tokens", "shape": [1, len(ids)], "datatype": "INT64", "data": ids}]}


# -- mixed traffic: one client's bad request never harms another's -------------------

VALID_IDS = st.lists(st.integers(1, 9), min_size=1, max_size=6)


@st.composite
def traffic(draw):
    """Valid id lists, and bad ones each carrying one unique out-of-range id."""
    valid = draw(st.lists(VALID_IDS, min_size=4, max_size=24))
    bad_ids = draw(st.lists(st.integers(10, 10**9) | st.integers(-10**9, -11), max_size=4, unique=True))
    requests_ = [(ids, None) for ids in valid]
    for bad in bad_ids:
        ids = draw(VALID_IDS)
        at = draw(st.integers(0, len(ids)))
        requests_.insert(draw(st.integers(0, len(requests_))), ([*ids[:at], bad, *ids[at:]], bad))
    model = draw(st.sampled_from(["embed", "embed_checked"]))  # ORT fails the batch, or validation refuses
    return model, requests_


async def send(client: httpx.AsyncClient, model: str, ids: list[int]) -> httpx.Response:
    return await client.post(f"/v2/models/{model}/infer", json=body(ids))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=traffic())
def test_mixed_valid_and_invalid_requests(server, case):
    model, requests_ = case

    async def run() -> tuple[list[httpx.Response], list[httpx.Response]]:
        limits = httpx.Limits(max_connections=len(requests_))
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:
            together = await asyncio.gather(*(send(client, model, ids) for ids, _ in requests_))
            alone = [await send(client, model, ids) for ids, bad in requests_ if bad is None]
        return together, alone

    together, alone = asyncio.run(run())
    bad_values = {bad for _, bad in requests_ if bad is not None}
    solo = iter(alone)
    for (_ids, bad), answer in zip(requests_, together):
        if bad is None:
            assert answer.status_code == 200, answer.text
            assert answer.json()["outputs"] == next(solo).json()["outputs"]
        else:
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            # Whole numbers, so ORT's own bounds ("range [-10,9]") never pass for another's value 10.
            named = {int(n) for n in re.findall(r"-?\d+", error)}
            assert bad in named, error
            assert not (bad_values - {bad}) & named, error


# -- BYTES end to end ------------------------------------------------------------------

WORDS = [["a", "ü", "日本語"], ["naïve café", "", "Ωμέγα"]]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_bytes_round_trip_exactly_through_a_string_model(server, binary):
    client = httpclient.InferenceServerClient(url=server.url.removeprefix("http://"))
    text = np.array([[w.encode("utf-8") for w in row] for row in WORDS], dtype=object)
    tensor = httpclient.InferInput("text", list(text.shape), "BYTES")
    tensor.set_data_from_numpy(text, binary_data=binary)
    result = client.infer("text", [tensor], outputs=[httpclient.InferRequestedOutput("echo", binary_data=binary)])
    echo = result.as_numpy("echo")
    assert echo.shape == (2, 3)
    assert [[v if isinstance(v, bytes) else v.encode() for v in row] for row in echo.tolist()] == text.tolist()


# -- early answers reach every client --------------------------------------------------

OVERSIZED = b"x" * (LIMIT + 1)
TOO_LARGE = {"error": f"request body of {LIMIT + 1} bytes exceeds the limit of {LIMIT} bytes"}


def test_urllib_reads_the_413_for_an_oversized_body(server):
    request = urllib.request.Request(f"{server.url}/v2/models/embed/infer", data=OVERSIZED, method="POST")
    for _ in range(3):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=30)
        assert err.value.code == 413 and json.loads(err.value.read()) == TOO_LARGE


def test_requests_reads_the_413_for_an_oversized_body(server):
    for _ in range(3):
        answer = requests.post(f"{server.url}/v2/models/embed/infer", data=OVERSIZED, timeout=30)
        assert answer.status_code == 413 and answer.json() == TOO_LARGE


def test_tritonclient_reads_the_413_for_an_oversized_body(server):
    client = httpclient.InferenceServerClient(url=server.url.removeprefix("http://"), network_timeout=30)
    tokens = httpclient.InferInput("tokens", [1, LIMIT // 8 + 1], "INT64")
    tokens.set_data_from_numpy(np.ones((1, LIMIT // 8 + 1), dtype=np.int64))
    with pytest.raises(InferenceServerException, match=r"exceeds the limit of 67108864 bytes"):
        client.infer("embed", [tokens])
    assert client.is_server_live()  # and the server is fine afterwards
