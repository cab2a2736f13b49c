"""A line for starting servers: at most N start at once, the others wait their turn.

A server's start-up is about a second of CPU (imports, extensions). When 100
students press Start at once on 2 cores, 100 start-ups share the CPU evenly,
so none is finished before nearly all are: measured here, not one of 100
answered within the hub's 120 s (``http_timeout``) and the hub gave up on all
of them ("server never showed up ... Giving up"; the rush's client reported
"server stopped while starting"). In a line, servers come up one after
another at the same total cost, and the first ones are ready in seconds.

A place in line is held from the start of the process until its server
answers HTTP, so the slot covers the CPU-heavy part of the start-up.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Callable

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest


class StartQueue:
    """First come, first served; ``limit`` 0 lets everyone start at once."""

    def __init__(self, limit: int):
        self.limit = limit
        self.starting = 0
        self.waiting = 0
        self._free = asyncio.Semaphore(limit) if limit > 0 else None

    @contextlib.asynccontextmanager
    async def turn(self):
        if self._free is None:
            self.starting += 1
            try:
                yield
            finally:
                self.starting -= 1
            return
        self.waiting += 1
        try:
            await self._free.acquire()
        finally:
            self.waiting -= 1
        self.starting += 1
        try:
            yield
        finally:
            self.starting -= 1
            self._free.release()


async def wait_until_answering(url: str, exited: Callable[[], bool], timeout: float,
                               every: float = 0.1) -> None:
    """Return once ``url`` answers HTTP (any status below 500); fail if ``exited()`` or after ``timeout``."""
    deadline = time.monotonic() + timeout
    http = AsyncHTTPClient()  # tornado's, as the hub's own: no other HTTP library in the hub
    request = HTTPRequest(url, follow_redirects=False, connect_timeout=5, request_timeout=5)
    while True:
        if exited():
            raise RuntimeError(f"the server exited before it answered at {url}")
        try:
            response = await http.fetch(request, raise_error=False)
            if response.code < 500:
                return
        except (OSError, HTTPClientError, asyncio.TimeoutError):  # not listening yet, or timed out
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer from {url} within {timeout:.0f} s")
        await asyncio.sleep(every)
