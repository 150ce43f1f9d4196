"""A closed-loop HTTP/1.1 load client on raw asyncio sockets, counting every status it reads.

Each connection sends a request, reads the whole answer, and sends the next, until the run's
time is up; then it finishes the request it has in flight. So every request the server answered
was read and counted here, which a wrk run cut off at its deadline cannot promise: the counts are
an oracle for the server's own counters. Cheap enough (pre-encoded requests, no HTTP library)
to load one worker from the test process. Only for 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    statuses: Counter[int] = field(default_factory=Counter)
    retry_after: Counter[str] = field(default_factory=Counter)  # of the 503s
    errors: int = 0  # connections that failed (reset, closed early)
    # seconds from sending a request to reading its whole answer, per status
    latencies_s: dict[int, list[float]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def request_bytes(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """A response's status and headers (names lower-cased) from its head."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(
        (k.strip().lower(), v.strip())
        for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)
    )
    return status, headers


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """One whole response (its head, then its Content-Length body): its status and headers.
    Raises ``asyncio.IncompleteReadError`` if the connection ends first."""
    status, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
    await reader.readexactly(int(headers["content-length"]))
    return status, headers


async def _connection(
    port: int, request: bytes, until: float, result: LoadResult, timeout_s: float
) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        result.errors += 1
        return
    try:
        while time.monotonic() < until:
            sent = time.perf_counter()
            writer.write(request)
            status, headers = await asyncio.wait_for(read_response(reader), timeout_s)
            result.statuses[status] += 1
            result.latencies_s.setdefault(status, []).append(time.perf_counter() - sent)
            if status == 503:
                result.retry_after[headers.get("retry-after", "")] += 1
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        result.errors += 1
    finally:
        writer.close()


def run_load(
    port: int, path: str, body: bytes, connections: int, seconds: float, timeout_s: float = 30
) -> LoadResult:
    """``connections`` closed loops for ``seconds``; returns once every answer is read."""
    result = LoadResult()
    request = request_bytes(path, body)

    async def main() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(
            *(_connection(port, request, until, result, timeout_s) for _ in range(connections))
        )

    asyncio.run(main())
    return result
