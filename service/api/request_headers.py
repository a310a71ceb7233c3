"""The request headers the server uses, read in one pass at the edge and kept in the scope."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.auth import presented_token

# Scope key of the RequestHeaders the edge read (api/edge.py).
REQUEST = "ortserve.request"
HEADER_LENGTH = b"inference-header-content-length"
# Headers kept as text, the first of repeated ones winning: raw (lower-cased) name -> field.
_FIRST_WINS = {HEADER_LENGTH: "header_length", b"x-request-id": "request_id", b"authorization": "authorization",
               b"x-api-key": "api_key", b"traceparent": "traceparent"}


@dataclass(slots=True)
class RequestHeaders:
    request_id: str | None = None
    content_length: int | None = None
    # The binary tensor extension's JSON header size, as sent (parsed and checked by the protocol).
    header_length: str | None = None
    authorization: str | None = None
    api_key: str | None = None
    # W3C Trace Context: the caller's span, continued when this request is traced (core/tracing).
    traceparent: str | None = None
    tracestate: str | None = None

    @property
    def token(self) -> str | None:
        """The API key or admin token presented (Bearer first, then X-API-Key)."""
        return presented_token(self.authorization, self.api_key)

    @classmethod
    def read(cls, raw: list[tuple[bytes, bytes]]) -> RequestHeaders:
        """One walk over the raw (lower-cased) headers; the first of repeated headers wins, as in Starlette.
        An unparsable Content-Length counts as none (the parser has already refused a malformed one)."""
        out = cls()
        length_seen = False
        for name, value in raw:
            field = _FIRST_WINS.get(name)
            if field is not None:
                if getattr(out, field) is None:
                    setattr(out, field, value.decode("latin-1"))
            elif name == b"content-length":
                if not length_seen:
                    length_seen = True
                    out.content_length = int(value) if value.isdigit() else None
            elif name == b"tracestate":
                # Several tracestate headers are one list (W3C Trace Context): joined with commas.
                text = value.decode("latin-1")
                out.tracestate = text if out.tracestate is None else f"{out.tracestate},{text}"
        return out
