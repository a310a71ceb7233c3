from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from models.data_images import area_resize as training_area_resize
from tests.service.friendly_models import W_IMG, W_SEQ, add_friendly_models
from tests.service.pictures import png


@pytest.fixture
def client(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    return make_client()



def digit(seed: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size), np.uint8)
    top, left = rng.integers(0, size // 2, 2)
    image[top : top + size // 2, left : left + size // 4] = 255
    return image


def infer_probabilities(client, tensor: np.ndarray) -> list[float]:
    body = {"inputs": [{"name": "image", "shape": [1, 1, 8, 8], "datatype": "FP32", "data": tensor.ravel().tolist()}]}
    response = client.post("/v2/models/img_cls/infer", json=body)
    assert response.status_code == 200, response.text
    return response.json()["outputs"][0]["data"]


def probs(answer: dict) -> list[float]:
    return list(answer["probabilities"].values())


# -- images ---------------------------------------------------------------------


def test_upload_gives_the_same_prediction_as_the_tensor_path(client):
    pixels = digit(3)
    tensor = training_area_resize(pixels[None].astype(np.float64) / 255.0).astype(np.float32)
    response = client.post("/v2/models/img_cls/predict", content=png(pixels), headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    answer = response.json()["predictions"][0]
    np.testing.assert_allclose(probs(answer), infer_probabilities(client, tensor), rtol=1e-5)
    assert answer["label"] == ["zero", "one", "two"][int(np.argmax(tensor.reshape(-1) @ W_IMG))]
    assert len(answer["top_k"]) == 2  # the config's default


def test_several_uploaded_files_are_answered_in_order(client):
    uploads = [digit(s) for s in (1, 2, 3)]
    files = [("file", (f"{i}.png", png(p), "image/png")) for i, p in enumerate(uploads)]
    batch = client.post("/v2/models/img_cls/predict?top_k=3", files=files).json()["predictions"]
    singles = [
        client.post("/v2/models/img_cls/predict", files=[("file", ("x.png", png(p), "image/png"))]).json()
        ["predictions"][0] for p in uploads
    ]
    assert [probs(a) for a in batch] == [probs(a) for a in singles]
    assert all(len(a["top_k"]) == 3 for a in batch)


def test_each_item_is_queued_on_its_own(client):
    repo = client.app.state.repository
    calls = []
    original = repo.infer

    async def spy(request):
        calls.append(({k: v.shape for k, v in request.inputs.items()}, request.outputs))
        return await original(request)

    repo.infer = spy
    files = [("file", (f"{i}.png", png(digit(i)), "image/png")) for i in range(4)]
    assert client.post("/v2/models/img_cls/predict", files=files).status_code == 200
    # Each asks only for the output its answer reads (its postprocessing output, never the rest).
    assert calls == [({"image": (1, 1, 8, 8)}, frozenset({"probabilities"}))] * 4


def test_json_pixel_arrays_and_base64_match_the_upload(client):
    pixels = digit(5)
    tensor = training_area_resize(pixels[None].astype(np.float64) / 255.0)
    by_array = client.post("/v2/models/img_cls/predict", json={"images": [tensor.tolist()]}).json()
    by_b64 = client.post("/v2/models/img_cls/predict",
                         json={"images_b64": [base64.b64encode(png(pixels)).decode()]}).json()
    by_upload = client.post("/v2/models/img_cls/predict", content=png(pixels),
                            headers={"Content-Type": "image/png"}).json()
    np.testing.assert_allclose(probs(by_array["predictions"][0]), probs(by_upload["predictions"][0]), rtol=1e-5)
    assert probs(by_b64["predictions"][0]) == probs(by_upload["predictions"][0])


def test_versioned_route(client):
    response = client.post("/v2/models/img_cls/versions/1/predict", json={"images": [np.zeros((8, 8)).tolist()]})
    assert response.status_code == 200 and response.json()["model_version"] == "1"


def test_autoencoder_answers_a_png_for_one_upload(client):
    pixels = digit(7)
    response = client.post("/v2/models/img_ae/predict?upscale=4", content=png(pixels),
                           headers={"Content-Type": "image/png"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (32, 32) and image.mode == "L"
    tensor = training_area_resize(pixels[None].astype(np.float64) / 255.0)[0]
    small = np.asarray(image, dtype=np.float64)[::4, ::4] / 255.0
    np.testing.assert_allclose(small, 1.0 - tensor, atol=0.5 / 255 + 1e-6)  # the tiny model computes 1 - x


def test_autoencoder_json_mode_returns_the_reconstruction(client):
    grid = np.linspace(0, 1, 64).reshape(1, 8, 8)
    response = client.post("/v2/models/img_ae/predict", json={"images": [grid.tolist()]})
    answer = response.json()["predictions"][0]
    assert answer["output"] == "reconstruction"
    np.testing.assert_allclose(answer["values"], 1.0 - grid, atol=1e-6)
    assert Image.open(io.BytesIO(base64.b64decode(answer["png_b64"]))).size == (8, 8)


# -- sequences and text ---------------------------------------------------------


def test_frames_and_sequences(client):
    a = np.linspace(-1, 1, 5 * 12).reshape(5, 12)
    b = np.linspace(2, 0, 3 * 12).reshape(3, 12)
    one = client.post("/v2/models/seq_cls/predict", json={"frames": a.tolist()}).json()["predictions"]
    many = client.post("/v2/models/seq_cls/predict", json={"sequences": [a.tolist(), b.tolist()]}).json()
    expected = [np.exp(x.mean(0) @ W_SEQ) / np.exp(x.mean(0) @ W_SEQ).sum() for x in (a, b)]
    np.testing.assert_allclose(probs(one[0]), expected[0], rtol=1e-5)
    np.testing.assert_allclose([probs(p) for p in many["predictions"]], expected, rtol=1e-5)


def test_text_gives_labels_over_the_threshold_and_top_k(client):
    response = client.post("/v2/models/txt_attn/predict", json={"text": ["abc", "dd e"], "top_k": 2,
                                                               "threshold": 0.6})
    answers = response.json()["predictions"]
    assert len(answers) == 2
    for answer in answers:
        assert len(answer["top_k"]) == 2 and answer["threshold"] == 0.6
        assert [x["label"] for x in answer["labels"]] == [
            k for k, v in sorted(answer["probabilities"].items(), key=lambda kv: -kv[1]) if v >= 0.6]
    single = client.post("/v2/models/txt_attn/predict?top_k=1", json={"text": "abc"}).json()["predictions"]
    assert probs(single[0]) == probs(answers[0]) and len(single[0]["top_k"]) == 1


def test_long_text_is_truncated_like_training(client):
    answer = client.post("/v2/models/txt_attn/predict", json={"text": "a" * 40}).json()["predictions"][0]
    assert answer["truncated"] is True


# -- errors ---------------------------------------------------------------------


def post_json(client, model: str, raw: str):
    return client.post(f"/v2/models/{model}/predict", content=raw.encode(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("model", "kwargs", "status", "error"),
    [
        ("img_cls", {"content": png(digit(1))[:60], "headers": {"Content-Type": "image/png"}}, 400,
         "body: corrupt or truncated image data"),
        ("img_cls", {"files": [("file", ("notes.txt", b"just some text", "text/plain"))]}, 400,
         "file[0] ('notes.txt'): not a PNG or JPEG image (received 14 bytes starting b'just som')"),
        ("img_cls", {"content": b"", "headers": {"Content-Type": "image/jpeg"}}, 400,
         "body: empty upload; expected a PNG or JPEG image"),
        ("img_cls", {"files": [("other", ("a.png", b"x", "image/png"))]}, 422,
         "multipart field 'file' is missing; received fields ['other']"),
        ("img_cls", {"content": b"a,b", "headers": {"Content-Type": "text/csv"}}, 415,
         "unsupported Content-Type 'text/csv'; expected application/json, multipart/form-data, image/png or image/jpeg"),
        ("img_cls", {"json": {"images_b64": ["!!"]}}, 400, "images_b64[0]: not valid base64 (received 2 characters)"),
        ("img_cls", {"json": {"images": [[[0.0] * 8] * 7]}}, 400,
         "images[0]: expected shape [1, 8, 8] (or [H, W] for one channel), received [7, 8]"),
        ("img_cls", {"json": {"text": "hello"}}, 422,
         "model 'img_cls' takes image input: send 'images' or 'images_b64' (or an upload); received 'text'"),
        ("img_cls", {"json": {"images": [np.zeros((8, 8)).tolist()], "format": "png"}}, 422,
         "format 'png' is only for models whose postprocessing type is 'image'; 'img_cls' answers labels"),
        ("txt_attn", {"json": {"text": ""}}, 422, "text: empty string; expected at least 1 character"),
        ("txt_attn", {"json": {"text": ["ok", ""]}}, 422, "text[1]: empty string; expected at least 1 character"),
        ("txt_attn", {"json": {"text": []}}, 422, "text: empty list; expected at least one item"),
        ("txt_attn", {"files": [("file", ("a.png", png(digit(1)), "image/png"))]}, 422,
         "model 'txt_attn' takes text input as JSON, not file uploads"),
        ("seq_cls", {"json": {"frames": [[0.0] * 12, [0.0] * 13]}}, 400, "frames[1]: expected 12 channels, received 13"),
        ("seq_cls", {"json": {"sequences": [[[0.0] * 12], []]}}, 422,
         "sequences[1]: 0 frame(s); expected at least 1"),
        ("affine", {"json": {"text": "x"}}, 422,
         "model 'affine' declares no friendly preprocessing (preprocessing.type is None; "
         "expected 'image', 'sequence' or 'chars'): use /infer"),
        ("nope", {"json": {"text": "x"}}, 404, "unknown model 'nope'; available: "),
        ("img_ae", {"files": [("file", ("a.png", png(digit(1)), "image/png"))] * 2, "params": {"format": "png"}},
         422, "format 'png' answers one image, but 2 were sent; use format 'json'"),
    ],
)
def test_bad_requests_name_the_problem(client, model, kwargs, status, error):
    response = client.post(f"/v2/models/{model}/predict", **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"].startswith(error)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ('{"frames": [[NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]}', "frames: NaN or Inf values are not allowed"),
        ('{"frames": [[1e999, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]}', "frames: NaN or Inf values are not allowed"),
        ('{"frames": [[1, 2]], "colour": "red"}', "colour: Extra inputs are not permitted"),
        ('{"frames": [[1, 2]], "text": "x"}', "body: Value error, send exactly one of"),
        ('{"frames": [["a"]]}', "frames.0.0: Input should be a valid number"),
        ("{not json", "body: Invalid JSON: key must be a string at line 1 column 2"),
    ],
)
def test_bad_json_names_the_field(client, raw, error):
    response = post_json(client, "seq_cls", raw)
    assert response.status_code in (400, 422), response.text
    assert response.json()["error"].startswith(error)


def test_too_many_items_is_413(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    client = make_client(max_items_per_request=2)
    response = client.post("/v2/models/txt_attn/predict", json={"text": ["a", "b", "c"]})
    assert response.status_code == 413
    assert response.json()["error"] == "text: 3 items exceed the limit of 2"


def test_too_long_text_is_413(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    client = make_client(max_text_length=5)
    response = client.post("/v2/models/txt_attn/predict", json={"text": "abcdef"})
    assert response.status_code == 413
    assert response.json()["error"] == "text: 6 characters exceed the limit of 5"


def test_openapi_documents_the_json_body_and_uploads(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v2/models/{model_name}/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data", "image/png", "image/jpeg"} <= set(body)
    assert "examples" in body["application/json"]["schema"]
    json.dumps(spec)  # serialisable


def test_too_long_sequence_is_413(make_client, tiny_repo):
    add_friendly_models(tiny_repo)
    client = make_client(max_sequence_length=4)
    response = client.post("/v2/models/seq_cls/predict", json={"sequences": [[[0.0] * 12] * 3, [[0.0] * 12] * 5]})
    assert response.status_code == 413
    assert response.json()["error"] == "sequences[1]: 5 frames exceed the limit of 4"


# -- content sniffing and the deadline name -------------------------------------


def test_an_image_sent_without_content_type_is_sniffed(client):
    pixels = digit(2)
    declared = client.post("/v2/models/img_cls/predict", content=png(pixels),
                           headers={"Content-Type": "image/png"}).json()
    # httpx adds no Content-Type for raw bytes: the server must look at the bytes themselves.
    sniffed = client.post("/v2/models/img_cls/predict", content=png(pixels))
    assert sniffed.status_code == 200, sniffed.text
    assert sniffed.json() == declared
    jpeg = io.BytesIO()
    Image.fromarray(pixels).save(jpeg, format="JPEG")
    assert client.post("/v2/models/img_cls/predict", content=jpeg.getvalue()).status_code == 200
    # curl --data-binary @digit.png without -H sends application/x-www-form-urlencoded.
    curl = client.post("/v2/models/img_cls/predict", content=png(pixels),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert curl.json() == declared
    form = client.post("/v2/models/img_cls/predict", content=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    assert form.json()["error"].startswith("unsupported Content-Type 'application/x-www-form-urlencoded'")


def test_a_json_body_without_content_type_is_still_json(client):
    response = client.post("/v2/models/txt_attn/predict", content=b'{"text": "hello"}')
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1


def test_the_friendly_deadline_is_timeout_s_in_seconds(client):
    # /infer's parameters.timeout is Triton's (microseconds): the friendly name says its unit.
    assert client.post("/v2/models/txt_attn/predict", json={"text": "hello", "timeout_s": 5}).status_code == 200
    assert client.post("/v2/models/txt_attn/attention", json={"text": "hello", "timeout_s": 5}).status_code == 200
    for endpoint in ("predict", "attention"):
        response = client.post(f"/v2/models/txt_attn/{endpoint}", json={"text": "hello", "timeout": 5})
        assert response.status_code == 422
        error = response.json()["error"]
        assert "'timeout' is now 'timeout_s' (seconds); /infer's parameters.timeout is in microseconds" in error
