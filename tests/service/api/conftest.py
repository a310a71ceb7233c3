from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.core.settings import Settings


@pytest.fixture
def make_client(tiny_repo):
    """Build an in-process client over the tiny repository, with settings overrides."""
    clients = []

    def build(**overrides) -> TestClient:
        settings = Settings(repository=tiny_repo, **overrides)
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()
