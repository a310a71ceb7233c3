"""Several server processes on one port (`--workers N`), seen by clients as one server.

- supervisor.py: the parent. Reserves the port, starts N workers, restarts one that
  dies, drains them all on SIGTERM, fails loudly when one cannot start.
- gateway.py: in each worker, answers readiness, /metrics, statistics and
  load/unload for the whole group by asking its peers over private Unix sockets.
- peers.py: that private channel (a minimal HTTP/1.1 client) and the merges.

A worker learns its role from two environment variables the supervisor sets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_INDEX = "ORTSERVE_WORKER_INDEX"
ENV_DIR = "ORTSERVE_WORKER_DIR"
ENV_COUNT = "ORTSERVE_WORKER_COUNT"


@dataclass(frozen=True)
class Role:
    """Worker `index` of `count`; private sockets and ready markers live in `directory`."""

    index: int
    count: int
    directory: Path

    def socket_path(self, index: int) -> Path:
        return self.directory / f"worker-{index}.sock"

    def marker(self, index: int) -> Path:
        # Written once the worker first served; kept across its restarts.
        return self.directory / f"worker-{index}.started"

    @property
    def unloaded(self) -> Path:
        # Models an admin unloaded from the group: a worker restarted later unloads them too.
        return self.directory / "unloaded.json"

    @property
    def regions(self) -> Path:
        # Shared-memory regions registered with the group: a restarted worker registers them too.
        return self.directory / "regions.json"

    @property
    def traces(self) -> Path:
        # Trace settings changed in the group: a restarted worker applies them too.
        return self.directory / "traces.json"

    def peers(self) -> list[int]:
        return [i for i in range(self.count) if i != self.index]

    @classmethod
    def from_env(cls) -> Role | None:
        if ENV_INDEX not in os.environ:
            return None
        return cls(int(os.environ[ENV_INDEX]), int(os.environ[ENV_COUNT]), Path(os.environ[ENV_DIR]))
