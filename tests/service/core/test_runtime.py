from __future__ import annotations

import numpy as np
import pytest

from service.core import runtime
from service.core.config import ModelConfig
from service.core.errors import ConfigError, ProviderError
from service.core.runtime import OrtRuntime, requested_providers, validate_against_session
from service.core.settings import Settings
from tests.tiny_models import AFFINE_CONFIG, SEQUENCE_CONFIG

AFF = ModelConfig.model_validate(AFFINE_CONFIG)


def affine_runtime(tiny_repo, config=AFF, version=1, **settings):
    return OrtRuntime(tiny_repo / "affine" / str(version) / "model.onnx", config, Settings(**settings))


def test_runs_on_cpu_and_reports_the_provider(tiny_repo):
    rt = affine_runtime(tiny_repo, provider="cpu")
    assert rt.provider == "CPUExecutionProvider"
    out = rt.run({"x": np.array([[1, 2, 3, 4]], np.float32)})
    np.testing.assert_allclose(out["y"], [[3, 5, 7, 9]])
    np.testing.assert_allclose(out["z"], [[2, 4, 6, 8]])


def test_auto_takes_cpu_when_cuda_is_not_in_onnxruntime(monkeypatch):
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert requested_providers(Settings(provider="auto")) == ["CPUExecutionProvider"]


def test_auto_asks_for_cuda_first_when_available(monkeypatch):
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    providers = requested_providers(Settings(provider="auto", cuda_device_id=1))
    assert providers == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]


def test_cuda_demanded_without_cuda_build_fails_loudly(monkeypatch):
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ProviderError, match="provider=cuda but the installed onnxruntime offers only"):
        requested_providers(Settings(provider="cuda"))


def test_cuda_demanded_but_session_fell_back_to_cpu(tiny_repo, monkeypatch):
    # onnxruntime-gpu without CUDA libraries: the provider is "available" yet the
    # session silently runs on CPU. We must notice by reading get_providers().
    monkeypatch.setattr(runtime.ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(runtime, "requested_providers", lambda settings: ["CPUExecutionProvider"])
    with pytest.raises(ProviderError, match=r"provider=cuda but the session runs on \['CPUExecutionProvider'\]"):
        affine_runtime(tiny_repo, provider="cuda")


def test_datatype_mismatch_names_model_field_expected_found(tiny_repo):
    bad = AFF.model_copy(update={"input": [AFF.input[0].model_copy(update={"datatype": "FP64"})]})
    with pytest.raises(ConfigError, match="model 'affine': input 'x' datatype: config says FP64, graph has FP32"):
        affine_runtime(tiny_repo, config=bad)


def test_dims_mismatch(tiny_repo):
    bad = AFF.model_copy(update={"output": [AFF.output[0].model_copy(update={"dims": [5]}), AFF.output[1]]})
    with pytest.raises(ConfigError, match=r"output 'y' shape: dim 1 = 5 but the graph has 4"):
        affine_runtime(tiny_repo, config=bad)


def test_unknown_output_and_missing_input(tiny_repo):
    bad = AFF.model_copy(update={"output": [AFF.output[0].model_copy(update={"name": "nope"})]})
    with pytest.raises(ConfigError, match=r"config.output 'nope' is not in the graph; expected one of \['y', 'z'\]"):
        affine_runtime(tiny_repo, config=bad)


def test_corrupt_file_is_a_config_error(tiny_repo):
    path = tiny_repo / "affine" / "1" / "model.onnx"
    path.write_bytes(b"not an onnx file")
    with pytest.raises(ConfigError, match="model 'affine': cannot load model.onnx"):
        affine_runtime(tiny_repo)


def test_warmup_inputs_follow_config(tiny_repo):
    seq = ModelConfig.model_validate(SEQUENCE_CONFIG)
    rt = OrtRuntime(tiny_repo / "sequence" / "1" / "model.onnx", seq, Settings())
    inputs = rt.warmup_inputs(4)
    assert inputs["frames"].shape == (4, 5, 3)
    assert inputs["lengths"].dtype == np.int64
    rt.warmup()  # runs every configured batch size without error


def test_validate_against_session_accepts_tiny_models(tiny_repo):
    rt = affine_runtime(tiny_repo)
    validate_against_session(AFF, rt.session)
