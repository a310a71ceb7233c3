"""Reliability drills against a real server process on 127.0.0.1.

- `python -m scripts.reliability.overload`: measure capacity, then offer ~5x
  that rate open loop; report what was accepted, what was rejected (and whether
  with Retry-After), latency of the accepted, and the server's RSS.
- `python -m scripts.reliability.soak`: steady load for minutes, RSS every
  second; report drift after warm-up.

See docs/reliability.md for the measured results and the fault tests.
"""
