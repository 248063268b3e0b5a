"""The Prometheus endpoint: a small HTTP/1.1 server on the daemon's own event loop.

Not prometheus_client's server: that one runs in threads and would call the collector
from them, where the figures are read on the daemon's loop (aiosqlite, the zfs
commands); here a scrape awaits the reading (through the cache) on that loop. It answers
GET (and HEAD) of /metrics and nothing else, one request per connection
(`Connection: close`), and bounds what a client can make it hold: the request line and
headers (8 KiB each, 64 headers), and 10 s to send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

PATH = "/metrics"
#: a client that has not sent its request within this many seconds is dropped
REQUEST_TIMEOUT = 10.0
LINE_LIMIT = 8192
MAX_HEADERS = 64


@dataclass(frozen=True)
class Answer:
    status: str
    #: send the figures (else `text`)
    figures: bool = False
    text: str = ""
    #: the body is left out (HEAD)
    head: bool = False


def answer(request_line: str) -> Answer:
    """What to answer a request line (`GET /metrics HTTP/1.1`)."""
    parts = request_line.split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return Answer("400 Bad Request", text="bad request\n")
    method, target, _ = parts
    if method not in ("GET", "HEAD"):
        return Answer("405 Method Not Allowed", text="only GET and HEAD\n")
    path = target.split("?", 1)[0]
    if path != PATH:
        return Answer("404 Not Found", text=f"the metrics are at {PATH}\n", head=method == "HEAD")
    return Answer("200 OK", figures=True, head=method == "HEAD")


class MetricsEndpoint:
    """Serves `render()` (the text format) at http://ADDRESS:PORT/metrics."""

    def __init__(self, render: Callable[[], Awaitable[bytes]], address: str, port: int) -> None:
        self._render, self.address, self.port = render, address, port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.address, self.port, limit=LINE_LIMIT
        )
        # the port bound (the one asked for, or the kernel's choice for 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    line = (await reader.readline()).decode("latin-1")
                    await _skip_headers(reader)
            except (TimeoutError, ValueError, asyncio.LimitOverrunError):
                return  # too slow, too long or too many: dropped without a word
            reply = answer(line)
            body = await self._render() if reply.figures else reply.text.encode()
            kind = CONTENT_TYPE_LATEST if reply.figures else "text/plain; charset=utf-8"
            head = (
                f"HTTP/1.1 {reply.status}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if reply.head else body))
            await writer.drain()
        except ConnectionError:
            pass
        except Exception:
            log.exception("metrics: a scrape failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _skip_headers(reader: asyncio.StreamReader) -> None:
    for _ in range(MAX_HEADERS):
        if (await reader.readline()).strip() == b"":
            return
    raise ValueError("too many headers")
