"""HTTP/1.1 over a plain blocking socket, for requests no client library would send (framing
errors, huge or dripping headers, bodies past the limit) and for seeing how the server ends the
connection (a clean close, or a reset)."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    # How the connection ended after the response: "eof", "reset", "open" (still open when the
    # reader stopped), or "" when the reader did not wait for it.
    end: str = ""
    raw_head: bytes = field(default=b"", repr=False)


def connect(port: int, timeout_s: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout_s)


def _more(sock: socket.socket) -> bytes:
    """The next bytes, or b"" once the connection has ended (closed or reset)."""
    try:
        return sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        return b""


def read_response(sock: socket.socket, head_only: bool = False) -> RawResponse | None:
    """The next response on ``sock`` (its body by Content-Length), or None when the connection
    ends (closed or reset) before the whole response arrived."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _more(sock)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head_only else int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = _more(sock)
        if not chunk:
            return None
        body += chunk
    return RawResponse(int(status_line.split()[1]), headers, body, raw_head=head)


def connection_end(sock: socket.socket, wait_s: float) -> str:
    """How the server ends the connection within ``wait_s``: "eof", "reset" or "open"; any
    further bytes are read and dropped."""
    sock.settimeout(wait_s)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return "open"
    except ConnectionResetError:
        return "reset"
    return "eof"


def exchange(port: int, request: bytes, timeout_s: float = 10.0) -> RawResponse | None:
    """Send ``request`` whole, read one response and how the connection ends after it (the
    request should say ``Connection: close``, or the server keeps the connection: "open")."""
    with connect(port, timeout_s) as sock:
        # The server may have answered and closed already: read what it said.
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(request)
        response = read_response(sock, head_only=request.startswith(b"HEAD "))
        if response is not None:
            response.end = connection_end(sock, 2.0)
        return response


def request_bytes(
    method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """A request with ``Host``, ``Connection: close`` and a Content-Length (unless ``headers``
    sets its own framing)."""
    fields = {"host": "127.0.0.1", "connection": "close"} | (headers or {})
    if "transfer-encoding" not in fields and "content-length" not in fields:
        fields["content-length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return head.encode("latin-1") + b"\r\n" + body
