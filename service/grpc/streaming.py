"""ModelStreamInfer: Triton's bidirectional stream, for ordinary (non-decoupled) models.

Each request on the stream gets exactly one response, as soon as it is ready: the
requests run concurrently (they batch with everyone else's), so answers may come
out of order, and each echoes its request's `id` for the client to match. A
request that fails does not end the stream: its error travels in the response's
`error_message` (with the request's model and id), and the stream goes on. The
call's metadata carries the API key, checked once when the stream opens; each
request passes the same admission as a unary call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator

import grpc

from ..core.auth import check_api_key
from ..core.errors import DeadlineExceeded, ServiceError
from ..protocol.execute import run_inference
from ._generated import grpc_service_pb2 as pb
from .codec import decode_request, encode_response
from .servicer import Context, InferenceServicer, _token
from .status import grpc_code_for

log = logging.getLogger(__name__)
_END = None


class StreamingServicer(InferenceServicer):
    async def ModelStreamInfer(
        self, request_iterator: AsyncIterable[pb.ModelInferRequest], context: Context
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        try:
            check_api_key(_token(context), self.settings.api_key)
        except ServiceError as exc:
            await context.abort(grpc_code_for(exc), exc.message)
        answers: asyncio.Queue[pb.ModelStreamInferResponse | None] = asyncio.Queue()
        running: set[asyncio.Task[None]] = set()

        async def answer(message: pb.ModelInferRequest) -> None:
            answers.put_nowait(await self._one(message, context))

        async def read() -> None:
            try:
                async for message in request_iterator:
                    task = asyncio.create_task(answer(message))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if running:  # the client finished sending: answer what it sent, then end the stream
                    await asyncio.wait(set(running))
            finally:
                answers.put_nowait(_END)

        reader = asyncio.create_task(read())
        try:
            while (response := await answers.get()) is not _END:
                yield response
        finally:  # the stream ended or was cancelled: drop what is still queued
            reader.cancel()
            for task in list(running):
                task.cancel()

    async def _one(self, message: pb.ModelInferRequest, context: Context) -> pb.ModelStreamInferResponse:
        """One request of the stream, answered or failed; never raises (the stream goes on)."""
        try:
            if not self.admission.try_enter():
                raise self.admission.error()
            try:
                remaining = context.time_remaining()
                if remaining is not None and remaining <= 0:
                    raise DeadlineExceeded("the stream's deadline passed before it was queued", model=message.model_name)
                wire = decode_request(message, remaining, self.regions)
                answer = await run_inference(self.repo, wire.request)
            finally:
                self.admission.leave()
            response = encode_response(wire, answer.model_version, answer.outputs, answer.datatypes)
            return pb.ModelStreamInferResponse(infer_response=response)
        except ServiceError as exc:
            error = exc.message
            if grpc_code_for(exc) is grpc.StatusCode.INTERNAL:
                log.error("stream request failed", extra={"error": error, "model": message.model_name})
        except Exception:
            log.exception("unhandled error in a stream request", extra={"model": message.model_name})
            error = "internal server error"
        echo = pb.ModelInferResponse(model_name=message.model_name, model_version=message.model_version, id=message.id)
        return pb.ModelStreamInferResponse(error_message=error, infer_response=echo)
