"""Mixed traffic against a real server process and real ONNX models.

- Concurrent valid and invalid requests (generated with hypothesis): every valid
  answer equals the answer to the same request sent alone; every invalid one
  gets a 4xx naming its own value and nobody else's.
- Garbage floats (NaN, Inf, 1e38, random bytes), taken as sent on the tensor API as
  Triton takes them, never change a batch-mate's answer: the reference models,
  rows in one request and requests batched together (hypothesis).
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


# -- garbage floats never reach a batch-mate (the reference models) -----------------------

from scripts.launcher import PROJECT_ROOT  # noqa: E402
from service.protocol.binary import HEADER  # noqa: E402

FLOAT_MODELS = ["digits_lenet", "digits_resnet", "digits_denoiser", "vowels_gru", "vowels_lstm"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    with ServerProcess(PROJECT_ROOT / "models" / "repository") as proc:
        yield proc


def binary_body(inputs: dict[str, np.ndarray]) -> tuple[bytes, dict[str, str]]:
    """The binary extension, as tritonclient sends it: JSON cannot carry NaN or Inf."""
    tensors = [{"name": n, "shape": list(a.shape), "datatype": "FP32" if a.dtype == np.float32 else "INT64",
                "parameters": {"binary_data_size": a.nbytes}} for n, a in inputs.items()]
    header = json.dumps({"inputs": tensors, "parameters": {"binary_data_output": True}}).encode()
    return header + b"".join(a.tobytes() for a in inputs.values()), {HEADER: str(len(header))}


def first_output(answer: httpx.Response) -> np.ndarray:
    assert answer.status_code == 200, answer.text
    length = int(answer.headers[HEADER])
    out = json.loads(answer.content[:length])["outputs"][0]
    return np.frombuffer(answer.content[length:], np.float32).reshape(out["shape"])


@st.composite
def rows(draw, model: str, garbage: bool):
    """One item's inputs (no batch axis): valid values, or garbage of one of the four kinds."""
    shape = (1, 8, 8) if model.startswith("digits") else (draw(st.integers(7, 29)), 12)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if not garbage:
        values = rng.random(shape, dtype=np.float32) if model.startswith("digits") else rng.normal(0, 1, shape)
    else:
        kind = draw(st.sampled_from(["nan", "inf", "1e38", "bytes"]))
        values = {"nan": np.full(shape, np.nan), "inf": np.full(shape, np.inf), "1e38": np.full(shape, 1e38),
                  "bytes": rng.bytes(4 * int(np.prod(shape)))}[kind]
        if kind == "bytes":  # whatever 32-bit patterns random bytes make: NaNs, Infs, 1e38s, denormals
            return {"frames" if model.startswith("vowels") else "image":
                    np.frombuffer(values, np.float32).reshape(shape)}
    name = "frames" if model.startswith("vowels") else "image"
    return {name: np.asarray(values, np.float32)}


def stack(items: list[dict[str, np.ndarray]], model: str) -> dict[str, np.ndarray]:
    if model.startswith("digits"):
        return {"image": np.stack([i["image"] for i in items])}
    longest = max(i["frames"].shape[0] for i in items)
    frames = np.zeros((len(items), longest, 12), np.float32)
    for row, item in enumerate(items):
        frames[row, : item["frames"].shape[0]] = item["frames"]
    return {"frames": frames, "lengths": np.array([i["frames"].shape[0] for i in items], np.int64)}


@st.composite
def garbage_case(draw):
    model = draw(st.sampled_from(FLOAT_MODELS))
    valid = draw(st.lists(rows(model, False), min_size=2, max_size=8))
    bad = draw(st.lists(rows(model, True), min_size=1, max_size=4))
    order = draw(st.permutations([("ok", v) for v in valid] + [("bad", b) for b in bad]))
    return model, order


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=garbage_case())
def test_garbage_floats_never_change_a_batch_mates_answer(reference, case):
    model, order = case
    url = f"{reference.url}/v2/models/{model}/infer"
    with httpx.Client(timeout=60) as client:
        # Rows of one request run in one ONNX Runtime call: garbage rows against their valid twins.
        with_garbage = first_output(client.post(url, content=(b := binary_body(stack([r for _, r in order], model)))[0],
                                                headers=b[1]))
        twins = [r if kind == "ok" else order[0][1] if order[0][0] == "ok" else next(v for k, v in order if k == "ok")
                 for kind, r in order]
        body, headers = binary_body(stack(twins, model))
        clean = first_output(client.post(url, content=body, headers=headers))
        valid_rows = [i for i, (kind, _) in enumerate(order) if kind == "ok"]
        np.testing.assert_array_equal(with_garbage[valid_rows], clean[valid_rows])
        alone = [first_output(client.post(url, content=(b := binary_body(stack([r], model)))[0], headers=b[1]))
                 for kind, r in order if kind == "ok"]

    async def together() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=len(order))) as client:
            sends = [client.post(url, content=(b := binary_body(stack([r], model)))[0], headers=b[1]) for _, r in order]
            return await asyncio.gather(*sends)

    # Requests batched with others: each valid one as it was alone (batch sizes may differ, hence the tolerance).
    answers = asyncio.run(together())
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200]
    mine = [first_output(a) for (kind, _), a in zip(order, answers) if kind == "ok"]
    for got, expected in zip(mine, alone):
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # Counted when NaN, Inf or outside the declared value_range (digits: [0, 1]; frames declare none).
    input_name = "frames" if model.startswith("vowels") else "image"
    flagged = [r[input_name] for kind, r in order if kind == "bad" and not (
        np.isfinite(r[input_name]).all() and (model.startswith("vowels") or 0 <= r[input_name].min() <= r[input_name].max() <= 1))]
    metrics = httpx.get(f"{reference.url}/metrics").text
    assert not flagged or re.search(rf'^ortserve_out_of_range_inputs{{model="{model}",version="1",input="{input_name}"}} [1-9]',
                     metrics, re.MULTILINE)
