from __future__ import annotations

import asyncio

import pytest

from service.api.deps import unless_disconnected
from service.core.errors import ClientDisconnected, status_code_for


class _Request:
    """Just what unless_disconnected reads: an ASGI receive channel."""

    def __init__(self, messages: list[dict]) -> None:
        self._messages = messages

    async def receive(self) -> dict:
        if self._messages:
            return self._messages.pop(0)
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


async def test_a_disconnect_cancels_the_work_and_answers_499_not_400():
    cancelled = asyncio.Event()

    async def work() -> str:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    request = _Request([{"type": "http.disconnect"}])
    with pytest.raises(ClientDisconnected) as caught:
        await unless_disconnected(request, work())  # type: ignore[arg-type]
    assert cancelled.is_set()
    assert caught.value.message == "client disconnected before the response was ready"
    assert status_code_for(caught.value) == 499


async def test_work_that_finishes_first_is_returned():
    async def work() -> str:
        return "done"

    assert await unless_disconnected(_Request([]), work()) == "done"  # type: ignore[arg-type]
