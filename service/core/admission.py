"""One cap on the inference requests handled at once, shared by every front door (HTTP and gRPC).

Past the cap a request is refused before its body is decoded, so overload costs
almost nothing instead of queueing without bound.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import Overloaded


class Admission:
    def __init__(self, limit: int, on_reject: Callable[[], None] = lambda: None) -> None:
        self.limit = limit
        self.inflight = 0
        self.on_reject = on_reject

    @property
    def message(self) -> str:
        return f"server is at its limit of {self.limit} concurrent inference requests; retry later"

    @property
    def full(self) -> bool:
        return self.inflight >= self.limit

    def error(self) -> Overloaded:
        """What a front door answers when it is full (503 / UNAVAILABLE, with Retry-After)."""
        return Overloaded(self.message)

    def try_enter(self) -> bool:
        """Take a slot, or count a rejection and return False. Pair every True with leave()."""
        if self.inflight >= self.limit:
            self.on_reject()
            return False
        self.inflight += 1
        return True

    def take(self) -> None:
        """Take a slot after checking `full` yourself (the HTTP parser's fast path)."""
        self.inflight += 1

    def leave(self) -> None:
        self.inflight -= 1
