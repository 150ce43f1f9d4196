"""The OTLP/HTTP receiver the exporting configurations send their spans to, in its own process.

The harness runs ``python -m bench.otlp_sink`` pinned to the load core: decoding spans
costs CPU a real collector spends on another machine, so it must not share the servers' core
(nor the harness's GIL). The receiver is ``tests/support/otlp.py``'s, which decodes the real
protobuf the exporter sends. The process prints its URL on its first line, then answers every
line it reads on stdin with one JSON line: spans received per configuration (the
``bench.config`` resource attribute the harness sets), export requests and its own CPU seconds.
Spans are counted and let go as they arrive, so its memory stays flat.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.server import BIN, CONFIG_ATTRIBUTE, ROOT, ServerError
from tests.support.otlp import Receiver, otlp_receiver

DRAIN_INTERVAL_S = 0.5


class _Tally:
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.spans: Counter[str] = Counter()
        self.lock = threading.Lock()

    def drain(self) -> None:
        with self.receiver.lock:  # the receiver extends its list under this lock
            spans, self.receiver.spans = self.receiver.spans, []
        counted = Counter(str(s.resource.get(CONFIG_ATTRIBUTE, "")) for s in spans)
        with self.lock:
            self.spans.update(counted)

    def report(self) -> dict[str, Any]:
        self.drain()
        times = os.times()
        with self.lock:
            spans = dict(self.spans)
        return {
            "spans": spans,
            "requests": self.receiver.requests,
            "cpu_s": times.user + times.system,
        }


def main() -> None:
    stop = threading.Event()
    with otlp_receiver() as receiver:
        tally = _Tally(receiver)

        def drain_forever() -> None:
            while not stop.wait(DRAIN_INTERVAL_S):
                tally.drain()

        threading.Thread(target=drain_forever, name="drain", daemon=True).start()
        print(receiver.url, flush=True)
        for _ in sys.stdin:  # one report per line; EOF (the harness is done) ends the process
            print(json.dumps(tally.report()), flush=True)
        stop.set()


@dataclass
class Sink:
    """The harness's handle on the receiver process."""

    process: subprocess.Popen[str]
    url: str

    def report(self) -> dict[str, Any]:
        """Spans received so far by configuration name, export requests, the sink's CPU."""
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None:
            raise ServerError("the OTLP receiver has no pipes")
        try:
            stdin.write("\n")
            stdin.flush()
            line = stdout.readline()
        except OSError as exc:
            raise ServerError(f"the OTLP receiver is gone: {exc}") from exc
        if not line:
            raise ServerError(f"the OTLP receiver exited with {self.process.poll()}")
        report: dict[str, Any] = json.loads(line)
        return report

    def stop(self, timeout_s: float = 5.0) -> None:
        """Close its stdin (it exits), kill it if it does not; only this process is touched."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(cpus: str) -> Sink:
    """Start the receiver process pinned to ``cpus``; returns once it listens."""
    process = subprocess.Popen(
        ["taskset", "-c", cpus, str(BIN / "python"), "-m", "bench.otlp_sink"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        process.wait()
        raise ServerError(f"the OTLP receiver did not start (it printed {url!r})")
    return Sink(process, url)


if __name__ == "__main__":
    main()
