"""uvicorn's httptools protocol with a response's head and first body chunk sent in one write.

uvicorn writes a response's status line and headers, then its body, as two `transport.write` calls;
uvloop sends each at once, so a small JSON answer costs two `send` syscalls and two TCP segments.
In a profile of the RPC gateway under 32 clients those two writes were the largest single cost of
the API process (issue 10). The transport given to uvicorn here holds the head until the next write
(the body, or its first chunk for a stream) and sends both together. Interim responses (1xx, such
as `100 Continue` or a WebSocket's `101`) are never held, and anything held is sent before the
transport closes and when a response completes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport that holds one response head until the write that follows it."""

    __slots__ = ("_transport", "_held")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + bytes(data))
        elif _is_final_head(data):
            self._held = bytes(data)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, pause_reading, set_protocol, ...
        return getattr(self._transport, name)


def _is_final_head(data: bytes | bytearray | memoryview) -> bool:
    """A status line and headers of a final (non-1xx) response, as uvicorn writes them in one piece."""
    head = bytes(data[:10])
    return head.startswith(b"HTTP/1.1 ") and head[9:10] != b"1" and bytes(data[-4:]) == b"\r\n\r\n"


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's `httptools` protocol over a CoalescingTransport (`uvicorn.Config(http=...)`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()
