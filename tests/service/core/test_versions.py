"""Model entries and versions: which version serves, and which folders are versions."""

from __future__ import annotations

from service.core.config import ModelConfig
from service.core.versions import ModelEntry, ModelVersion, State, is_version, version_dirs

CONFIG = ModelConfig.model_validate({
    "name": "m", "input": [{"name": "x", "datatype": "FP32", "dims": [1]}],
    "output": [{"name": "y", "datatype": "FP32", "dims": [1]}],
})


def test_the_latest_ready_version_serves_not_the_newest():
    entry = ModelEntry("m", CONFIG, {
        1: ModelVersion("m", 1, CONFIG, State.READY),
        2: ModelVersion("m", 2, CONFIG, State.READY),
        3: ModelVersion("m", 3, CONFIG, State.UNAVAILABLE, "broken"),
    })
    assert entry.latest_ready().version == 2
    assert ModelEntry("m", CONFIG, {1: ModelVersion("m", 1, CONFIG, State.LOADING)}).latest_ready() is None


def test_a_version_is_spelled_as_answers_spell_it_and_has_no_provider_before_loading():
    mv = ModelVersion("m", 12, CONFIG)
    assert (mv.label, mv.provider, mv.state) == ("12", None, State.LOADING)


def test_version_folders_are_positive_ascii_integers(tmp_path):
    for name in ("1", "3", "10", "0", "²", "v2", "-1"):
        (tmp_path / name).mkdir()
    (tmp_path / "7").write_text("a file, not a folder")
    assert version_dirs(tmp_path) == [1, 3, 10]
    assert is_version("42") and not is_version("²") and not is_version("")
