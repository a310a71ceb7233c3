from __future__ import annotations

from pathlib import Path

from service.__main__ import build_settings, parse_args
from service.core.settings import DEFAULT_REPOSITORY


def test_defaults_serve_the_reference_repository_on_loopback(monkeypatch):
    for var in ("ORTSERVE_HOST", "ORTSERVE_PORT", "ORTSERVE_REPOSITORY"):
        monkeypatch.delenv(var, raising=False)
    settings = build_settings(parse_args([]))
    assert (settings.host, settings.port, settings.repository) == ("127.0.0.1", 8000, DEFAULT_REPOSITORY)
    assert DEFAULT_REPOSITORY.parts[-2:] == ("models", "repository")


def test_environment_then_options(monkeypatch, tmp_path):
    monkeypatch.setenv("ORTSERVE_PORT", "9001")
    monkeypatch.setenv("ORTSERVE_REPOSITORY", str(tmp_path))
    settings = build_settings(parse_args([]))
    assert settings.port == 9001 and settings.repository == tmp_path
    settings = build_settings(parse_args(["--port", "9002", "--repository", "/srv/models", "--host", "0.0.0.0"]))
    assert (settings.host, settings.port, settings.repository) == ("0.0.0.0", 9002, Path("/srv/models"))


def test_provider_option(monkeypatch):
    monkeypatch.delenv("ORTSERVE_PROVIDER", raising=False)
    assert build_settings(parse_args([])).provider == "auto"
    assert build_settings(parse_args(["--provider", "cpu"])).provider == "cpu"


def test_grpc_port_defaults_to_tritons_and_zero_turns_it_off(monkeypatch):
    monkeypatch.delenv("ORTSERVE_GRPC_PORT", raising=False)
    assert build_settings(parse_args([])).grpc_port == 8001
    monkeypatch.setenv("ORTSERVE_GRPC_PORT", "9101")
    assert build_settings(parse_args([])).grpc_port == 9101
    assert build_settings(parse_args(["--grpc-port", "0"])).grpc_port == 0


def test_workers_option_takes_a_count_or_auto(monkeypatch):
    import pytest
    from pydantic import ValidationError

    monkeypatch.delenv("ORTSERVE_WORKERS", raising=False)
    assert build_settings(parse_args([])).workers == 1
    monkeypatch.setenv("ORTSERVE_WORKERS", "auto")
    assert build_settings(parse_args([])).workers == "auto"
    assert build_settings(parse_args(["--workers", "4"])).workers == 4
    with pytest.raises(ValidationError):
        build_settings(parse_args(["--workers", "0"]))
