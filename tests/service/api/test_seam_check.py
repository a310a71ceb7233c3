"""The startup self-check of the uvicorn seam: it passes on the pinned uvicorn and names what is missing."""

from __future__ import annotations

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.api import seam_check
from service.api.admission import HttpAdmission
from service.api.uvicorn_seam import DrainingServer, protocol_for
from service.core.admission import Admission
from service.core.errors import StartupError


async def app(scope, receive, send):
    raise AssertionError("the probe must never reach the server's app: it brings its own")


def setup(**config):
    admission = HttpAdmission(Admission(8))
    cfg = uvicorn.Config(app, http=protocol_for(admission), log_config=None, **config)
    return cfg, admission, uvicorn.Server(cfg)


async def test_the_pinned_uvicorn_passes():
    cfg, admission, server = setup()
    await seam_check.check_seam(cfg, admission, server)


async def test_a_missing_method_is_named(monkeypatch):
    monkeypatch.delattr(HttpToolsProtocol, "timeout_keep_alive_handler")
    cfg, admission, server = setup()
    with pytest.raises(StartupError, match=r"missing HttpToolsProtocol\.timeout_keep_alive_handler") as caught:
        await seam_check.check_seam(cfg, admission, server)
    assert f"uvicorn {uvicorn.__version__} does not offer what service/api/uvicorn_seam.py relies on" in str(caught.value)


async def test_a_missing_instance_attribute_is_named(monkeypatch):
    monkeypatch.setitem(seam_check.REQUIRED, "HttpToolsProtocol attributes", ("pipeline", "renamed_in_a_new_release"))
    cfg, admission, server = setup()
    with pytest.raises(StartupError, match=r"missing HttpToolsProtocol\.renamed_in_a_new_release"):
        await seam_check.check_seam(cfg, admission, server)


async def test_limit_concurrency_would_bypass_admission():
    cfg, admission, server = setup(limit_concurrency=10)
    with pytest.raises(StartupError, match="limit_concurrency is set: uvicorn would answer 503 itself"):
        await seam_check.check_seam(cfg, admission, server)


async def test_another_http_protocol_would_bypass_admission():
    cfg = uvicorn.Config(app, http="h11", log_config=None)
    with pytest.raises(StartupError, match="http='h11': admission in the HTTP protocol needs"):
        await seam_check.check_seam(cfg, HttpAdmission(Admission(8)), uvicorn.Server(cfg))


async def test_a_protocol_that_stops_answering_fails_the_probe(monkeypatch):
    # As if a uvicorn release fed requests to the parser by another path: nothing is written.
    monkeypatch.setattr(HttpAdmission, "reject", lambda self: b"")
    cfg, admission, server = setup()
    with pytest.raises(StartupError, match="a whole request in one read did not get the canned 503"):
        await seam_check.check_seam(cfg, admission, server)


def test_the_started_servers_attribute_is_checked():
    class Bare:
        pass

    with pytest.raises(StartupError, match=r"missing Server\.servers"):
        seam_check.check_started(Bare())


async def test_a_failed_check_stops_the_server_before_it_binds(monkeypatch, caplog):
    monkeypatch.delattr(HttpToolsProtocol, "on_response_complete")
    cfg, admission, _ = setup()
    server = DrainingServer(cfg, repository=None, admission=admission)  # type: ignore[arg-type]
    await server.startup()
    assert server.should_exit and not server.started
    assert "missing HttpToolsProtocol.on_response_complete" in caplog.text


async def test_a_protocol_that_cannot_answer_in_one_write_fails_the_probe(monkeypatch):
    from service.api.uvicorn_seam import InFlight

    monkeypatch.setattr(InFlight, "answer", lambda self, status, head, body: False)
    cfg, admission, server = setup()
    with pytest.raises(StartupError, match=r"an admitted request was not answered in one write \(could not answer"):
        await seam_check.check_seam(cfg, admission, server)


async def test_a_lost_connection_that_keeps_its_slot_fails_the_probe(monkeypatch):
    from service.api.uvicorn_seam import InFlight

    monkeypatch.setattr(InFlight, "end", lambda self, lost: None)
    cfg, admission, server = setup()
    with pytest.raises(StartupError, match="a lost connection did not cancel its request and free its slot"):
        await seam_check.check_seam(cfg, admission, server)
