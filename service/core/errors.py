"""One exception hierarchy for the whole service.

    ServiceError
    ├── ClientError                 4xx: the caller can fix it
    │   ├── InvalidInput            400  malformed tensor, wrong shape/datatype, bad binary header
    │   ├── Unauthorized            401  missing or wrong API key / admin token
    │   ├── Forbidden               403  admin endpoints while no admin token is configured
    │   ├── NotFound                404  unknown model or version
    │   ├── PayloadTooLarge         413  body, tensor or item count over a configured limit
    │   ├── UnsupportedMediaType    415  an upload whose Content-Type (or sniffed bytes) no endpoint takes
    │   ├── Unprocessable           422  well-formed but semantically invalid (unknown label, ...)
    │   └── NotSupported            400  an extension this server does not offer (CUDA shared memory; gRPC UNIMPLEMENTED)
    ├── ClientDisconnected          499  the caller hung up before the answer (nginx's code; logged, never read)
    ├── Overloaded                  503  queue full: retry later (carries Retry-After)
    ├── ModelUnavailable            503  model known but not ready (loading, failed, unloaded)
    │   ├── ConfigError             503  config missing, unreadable or inconsistent with the graph
    │   └── ProviderError           503  provider=cuda demanded but the session did not obtain CUDA
    ├── ShuttingDown                503  the server is draining
    ├── DeadlineExceeded            504  the request's timeout passed before it ran
    └── ModelExecutionError         500  the runtime failed on valid input

Inference code raises these without knowing HTTP. `STATUS_CODES` is the one
classification of the hierarchy: HTTP answers with it (api/errors.py), gRPC derives
its codes from it (grpc/status.py) and the failure metric is labelled with it.
A disconnect is not a client error: counting it as 400 would blame the request for
the caller's own timeout, so it gets nginx's 499.

An error about a model carries `model`, `version` and `input` as fields, and its
words are built from them here, in one place: "model 'm' version 2, input 'x': ...".
"""

from __future__ import annotations


def subject(model: str | None, version: str | int | None = None, input: str | None = None) -> str:
    """How every message names what it is about: model 'm'[ version v][, input 'x']."""
    if model is None:
        return "" if input is None else f"input {input!r}"
    text = f"model {model!r}" if version is None else f"model {model!r} version {version}"
    return text if input is None else f"{text}, input {input!r}"


class ServiceError(Exception):
    """Base of every error the service reports to a caller.

    With `model` (and `version`, `input`), `detail` follows their names after `sep`
    (": " by default; " " for sentences like "model 'm' is LOADING")."""

    retry_after: float | None = None

    def __init__(
        self, detail: str, *, model: str | None = None, version: str | int | None = None, input: str | None = None,
        sep: str = ": ", retry_after: float | None = None,
    ) -> None:
        self.model, self.version, self.input = model, None if version is None else str(version), input
        self.detail = detail
        where = subject(model, version, input)
        self.message = f"{where}{sep}{detail}" if where else detail
        super().__init__(self.message)
        if retry_after is not None:
            self.retry_after = retry_after

    def reason(self, model: str, version: str | int | None = None) -> str:
        """The message without the model (and version) it begins with: for a reason shown
        where they are named already ("model 'm' is UNAVAILABLE: <reason>")."""
        for prefix in (f"{subject(model, version)}: ", f"{subject(model)}: "):
            if self.message.startswith(prefix):
                return self.message[len(prefix):]
        return self.message


class ClientError(ServiceError):
    pass


class InvalidInput(ClientError):
    pass


class Unauthorized(ClientError):
    pass


class Forbidden(ClientError):
    pass


class NotFound(ClientError):
    pass


class PayloadTooLarge(ClientError):
    pass


class UnsupportedMediaType(ClientError):
    pass


class Unprocessable(ClientError):
    pass


class NotSupported(ClientError):
    """A client asked for what this server does not offer: a client's mistake (4xx, so no 5xx
    alert fires), though gRPC has a code of its own for it (UNIMPLEMENTED, grpc/status.py)."""


class ClientDisconnected(ServiceError):
    """The client closed the connection; nobody will read the answer."""

    def __init__(self, detail: str = "client disconnected before the response was ready") -> None:
        super().__init__(detail)


class Overloaded(ServiceError):
    retry_after = 1.0


class ModelUnavailable(ServiceError):
    retry_after = 5.0


class ConfigError(ModelUnavailable):
    """A config file is missing, unreadable or inconsistent; the model is unavailable."""


class ProviderError(ModelUnavailable):
    """CUDA was demanded (provider=cuda) but the session did not obtain it."""


class ShuttingDown(ServiceError):
    retry_after = 5.0


class DeadlineExceeded(ServiceError):
    pass


class ModelExecutionError(ServiceError):
    pass


class StartupError(Exception):
    """The server cannot start as configured (not a request's error: it never reaches a caller).
    E.g. uvicorn lacks what api/uvicorn_seam.py relies on (api/seam_check.py)."""


# Most specific class first: lookup walks the MRO of the raised exception.
STATUS_CODES: dict[type[ServiceError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    Unprocessable: 422,
    NotSupported: 400,
    ClientError: 400,
    ClientDisconnected: 499,
    Overloaded: 503,
    ConfigError: 503,
    ProviderError: 503,
    ModelUnavailable: 503,
    ShuttingDown: 503,
    DeadlineExceeded: 504,
    ModelExecutionError: 500,
    ServiceError: 500,
}


def status_code_for(exc: ServiceError) -> int:
    """The HTTP status for `exc`: the entry of its most specific class in STATUS_CODES."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def retry_after_seconds(exc: ServiceError) -> str | None:
    """Retry-After's value (whole seconds, at least 1), for HTTP headers and gRPC metadata alike."""
    return None if exc.retry_after is None else str(max(1, round(exc.retry_after)))
