"""The published models/repository is accepted by the serving core, exactly as the server loads it.

Uses service.core.config.load_model_config (schema) and service.core.runtime.OrtRuntime, whose
constructor runs validate_against_session (names, datatypes and dims against the real
ONNX Runtime session), then the server's own warm-up and padding code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from models.cli import REPOSITORY
from models.export import sha256_file
from service.core.batch_assembly import stack, unstack
from service.core.config import load_model_config
from service.core.runtime import OrtRuntime
from service.core.settings import Settings

EXPECTED = ["digits_denoiser", "digits_lenet", "digits_resnet", "langid_transformer", "vowels_gru", "vowels_lstm"]
MODEL_DIRS = sorted(p for p in REPOSITORY.iterdir() if (p / "config.json").exists()) if REPOSITORY.is_dir() else []


def runtime(model_dir: Path) -> OrtRuntime:
    config = load_model_config(model_dir)
    return OrtRuntime(model_dir / "1" / "model.onnx", config, Settings(provider="cpu", intra_op_threads=1))


def test_every_reference_model_is_published():
    assert [p.name for p in MODEL_DIRS] == EXPECTED


@pytest.mark.parametrize("model_dir", MODEL_DIRS, ids=lambda p: p.name)
def test_config_is_accepted_by_the_serving_core(model_dir):
    rt = runtime(model_dir)  # raises ConfigError on any mismatch with the graph
    rt.warmup()
    assert rt.config.batched and rt.config.version_policy.select([1]) == [1]


@pytest.mark.parametrize("model_dir", MODEL_DIRS, ids=lambda p: p.name)
def test_provenance_matches_the_committed_file(model_dir):
    raw = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    provenance = raw["provenance"]
    assert provenance["onnx"]["sha256"] == sha256_file(model_dir / "1" / "model.onnx")
    assert provenance["parity"]["max_abs_diff"] <= 1e-5
    assert provenance["training_command"].startswith("python -m models.train " + model_dir.name)
    assert provenance["data"]["licence"]
    assert provenance["metrics"]


def _alone_and_batched(rt: OrtRuntime, requests: list[dict[str, np.ndarray]]):
    alone = [rt.run(r) for r in requests]
    batch, parts = stack(rt.config, requests)
    return alone, unstack(rt.config, rt.run(batch), parts)


@pytest.mark.skipif("vowels_lstm" not in [p.name for p in MODEL_DIRS], reason="not published")
def test_lstm_answer_does_not_depend_on_batch_padding():
    from models.data_vowels import load_vowels

    rt = runtime(REPOSITORY / "vowels_lstm")
    test = load_vowels("test")
    order = np.argsort(test.lengths)
    requests = [{"frames": test.sequences[i][None], "lengths": np.array([len(test.sequences[i])])}
                for i in (order[0], order[-1], order[len(order) // 2])]
    alone, batched = _alone_and_batched(rt, requests)
    for a, b in zip(alone, batched):
        np.testing.assert_allclose(b["probabilities"], a["probabilities"], atol=1e-6, rtol=0)


@pytest.mark.skipif("langid_transformer" not in [p.name for p in MODEL_DIRS], reason="not published")
def test_transformer_answer_and_attention_do_not_depend_on_batch_padding():
    from models.encoding import CharVocab

    rt = runtime(REPOSITORY / "langid_transformer")
    vocab = CharVocab.from_config(rt.config.model_dump()["preprocessing"])
    requests = []
    for text in ["Oslo", "Vereinigte Arabische Emirate", "Kilometer pro Stunde", "日本"]:
        tokens, mask = vocab.encode_batch([text])
        requests.append({"tokens": tokens, "mask": mask})
    alone, batched = _alone_and_batched(rt, requests)
    for a, b in zip(alone, batched):
        assert b["attentions"].shape == a["attentions"].shape
        np.testing.assert_allclose(b["probabilities"], a["probabilities"], atol=1e-6, rtol=0)
        np.testing.assert_allclose(b["attentions"], a["attentions"], atol=1e-6, rtol=0)


@pytest.mark.slow
def test_configs_written_by_the_training_scripts_pass_validation(idx_files, tmp_path, isolated_results, serve):
    from models import train

    repo = tmp_path / "repo"
    assert train.main(["digits_denoiser", "--data", f"idx:{idx_files[0]},{idx_files[1]}", "--epochs", "2",
                       "--repository", str(repo)]) == 0
    assert train.main(["vowels_gru", "--epochs", "2", "--hidden", "16", "--repository", str(repo)]) == 0
    for model_dir in sorted(repo.iterdir()):
        serve(model_dir).warmup()


@pytest.mark.parametrize("model_dir", MODEL_DIRS, ids=lambda p: p.name)
def test_every_input_declares_the_values_its_graph_can_take(model_dir):
    """Ids within the embedding, 0/1 masks, lengths within the frames, pixels in [0, 1]:
    what a batch would otherwise fail on (or silently wrap) is refused before queueing."""
    rt = runtime(model_dir)
    value_range = getattr(rt.config.preprocessing, "value_range", None)  # images only
    pixel_range = None if value_range is None else list(value_range)
    for spec in rt.config.input:
        constrained = spec.value_range or spec.allowed_values or spec.length_of
        if spec.datatype == "INT64":  # ids, masks and lengths: every integer input has a rule
            assert constrained, f"{model_dir.name}: input {spec.name!r} declares no value constraint"
        elif pixel_range is not None:
            assert list(spec.value_range or []) == pixel_range
        if spec.value_range is not None and spec.datatype == "INT64":
            # The largest declared id runs; one past it is what ORT's Gather refuses.
            high = int(spec.value_range[1])
            feeds = rt.warmup_inputs(1)
            feeds[spec.name] = np.full_like(feeds[spec.name], high)
            rt.run(feeds)
            feeds[spec.name] = np.full_like(feeds[spec.name], high + 1)
            with pytest.raises(Exception, match="out of data bounds"):
                rt.run(feeds)
