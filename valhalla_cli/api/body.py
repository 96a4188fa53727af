"""Reading a request body with a limit: over 1 MiB is 413, whatever the route (endpoints, the
sign-in form, the provider's webhooks)."""

from __future__ import annotations

from fastapi import Request

MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(Exception):
    """A request body over MAX_BODY_BYTES (413)."""


async def read_body(request: Request) -> bytes:
    """The whole body, refused as soon as it is known to be over the limit (its declared length,
    or the bytes received so far)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
