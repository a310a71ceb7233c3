"""gRPC's group view under `--workers N` (grpc/group.py): the pieces that need no second process."""

from __future__ import annotations

import grpc

from service.core.errors import InvalidInput, ModelUnavailable, NotFound, ServiceError, Unauthorized
from service.grpc.group import auth_headers, peer_error, statistics_path
from service.grpc.status import grpc_code_for
from service.workers.peers import Answer


class Context:
    def __init__(self, metadata):
        self.metadata = metadata

    def invocation_metadata(self):
        return self.metadata


def test_a_peers_refusal_keeps_its_status_and_words():
    cases = [(400, InvalidInput, grpc.StatusCode.INVALID_ARGUMENT), (401, Unauthorized, grpc.StatusCode.UNAUTHENTICATED),
             (404, NotFound, grpc.StatusCode.NOT_FOUND), (503, ModelUnavailable, grpc.StatusCode.UNAVAILABLE)]
    for status, cls, code in cases:
        error = peer_error(Answer(status, b'{"error": "worker 0 applied it but worker 1 answered: x"}'))
        assert type(error) is cls and grpc_code_for(error) is code
        assert error.message == "worker 0 applied it but worker 1 answered: x"
    odd = peer_error(Answer(502, b"bad gateway"))
    assert type(odd) is ServiceError and odd.message == "bad gateway"


def test_the_callers_credentials_go_to_every_peer_and_nothing_else():
    context = Context((("authorization", "Bearer t"), ("x-api-key", "k"), ("user-agent", "grpc"), ("x-bin", b"\x00")))
    assert auth_headers(context) == [(b"authorization", b"Bearer t"), (b"x-api-key", b"k")]
    assert auth_headers(Context(None)) == []


def test_statistics_paths_match_the_http_routes():
    assert statistics_path(None, None) == "/v2/models/stats"
    assert statistics_path("m", None) == "/v2/models/m/stats"
    assert statistics_path("m", "2") == "/v2/models/m/versions/2/stats"
