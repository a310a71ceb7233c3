"""Is this one read exactly one small inference request? Decided on the raw bytes, before any parser.

When admission is full, the HTTP protocol (api/uvicorn_seam.py) answers such a read
with the canned 503 without handing it to the parser: no callbacks, no header list,
no scope. Anything it is not sure of goes to the parser, which gives the same answer.
"""

from __future__ import annotations

from .early_answer import SMALL_BODY


def _header(head: bytes, name: bytes) -> bytes | None:
    """The value of header `name` (lower-cased, with its leading CRLF) in a lower-cased head."""
    at = head.find(name)
    if at < 0:
        return None
    end = head.find(b"\r\n", at + 2)
    return head[at + len(name) : end if end >= 0 else len(head)].strip()


def one_small_request(data: bytes) -> bool:
    """True when `data` is exactly one complete HTTP/1.1 POST to /v2/models/ with a small
    Content-Length body, nothing before or after it, and no header that needs the parser."""
    if not data.startswith(b"POST /v2/models/"):
        return False
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = data[:end].lower()
    first = head.find(b"\r\n")
    if first < 0 or not head[:first].endswith(b" http/1.1"):
        return False
    if b"\r\nexpect:" in head or b"\r\ntransfer-encoding:" in head or b"\r\nupgrade:" in head:
        return False  # unusual enough for the parser
    connection = _header(head, b"\r\nconnection:")
    if connection is not None and (b"close" in connection or b"upgrade" in connection):
        return False
    length = _header(head, b"\r\ncontent-length:")
    if length is None or not length.isdigit() or int(length) > SMALL_BODY:
        return False
    return len(data) == end + 4 + int(length)
