"""A rolling update behind a real HAProxy loses no request.

Two instances serve behind HAProxy (health check GET /readyz every 100 ms, out after one
failure, in after two successes, no retries, no redispatch). Under a steady load at most half
of the measured capacity, each is replaced in turn, as a Deployment's rolling update does: a
new instance starts and becomes UP, then the old one gets SIGTERM and drains. The client sees
no status other than 2xx and no connection error.

In a cluster each pod has its own CPU request, so a new pod's start-up (imports and the model
load: seconds of CPU) does not take the serving pods' CPU. Here two cores are shared by four
instances, HAProxy and the load, so a new instance starts at a lower CPU weight (nice 10), as
its own share would keep it. Without that, an old instance's workers starved while serving,
requests queued past the shed threshold, and the old instance shed one (a 503 the shedding
policy gives a real queue, at 150 rps against a capacity of 742 on a busy machine).
"""

import signal
import time
from contextlib import ExitStack
from pathlib import Path

from tests.support.haproxy import haproxy
from tests.support.processes import Server, free_port, gunicorn
from tests.support.steady_load import SteadyLoad, capacity_rps
from tests.support.tools import require_tool

DRAIN_S = 2  # >= 10 health-check intervals of 100 ms
GRACEFUL_S = 3
ENV = {
    "GLASSBOX_DRAIN_SECONDS": str(DRAIN_S),
    "GLASSBOX_GRACEFUL_TIMEOUT_SECONDS": str(GRACEFUL_S),
    "GLASSBOX_DRIFT_STOP_TIMEOUT_SECONDS": "0.5",
    "GLASSBOX_TRACES_FLUSH_TIMEOUT_SECONDS": "0.5",
    "GLASSBOX_TRACING_ENABLED": "false",
    "GLASSBOX_LOG_FORMAT": "json",
}
NEW_POD_CPU_WEIGHT = ("nice", "-n", "10")  # see the module's docstring
MAX_RATE_PER_S = 150.0  # the client's own ceiling on this machine; lower than half capacity here


def distinct_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def test_a_rolling_update_behind_haproxy_loses_no_request(tmp_path: Path) -> None:
    wrk = require_tool("wrk", "wrk")
    names = ["old-a", "old-b", "new-a", "new-b"]
    ports = dict(zip(names, distinct_ports(4), strict=True))
    instances: dict[str, Server] = {}
    with ExitStack() as stack:

        def start(name: str, wait: bool = True, wrapper: tuple[str, ...] = ()) -> None:
            instances[name] = stack.enter_context(
                gunicorn(tmp_path / name, workers=2, env=ENV, port=ports[name], wait=wait,
                         wrapper=wrapper)
            )  # fmt: skip

        def replace(old: str, new: str) -> None:
            start(new, wrapper=NEW_POD_CPU_WEIGHT)
            balancer.wait_for({new: "UP"})
            instances[old].process.send_signal(signal.SIGTERM)
            balancer.wait_for({old: "DOWN"}, timeout_s=DRAIN_S)  # while it still serves
            assert instances[old].process.wait(timeout=DRAIN_S + GRACEFUL_S + 5) == 0

        for name in ("old-a", "old-b"):  # side by side: start-up is most of the test's time
            start(name, wait=False)
        for name in ("old-a", "old-b"):
            instances[name].wait_ready(workers=2)
        balancer = stack.enter_context(haproxy(tmp_path, ports))
        balancer.wait_for({"old-a": "UP", "old-b": "UP", "new-a": "DOWN", "new-b": "DOWN"})
        capacity = capacity_rps(wrk, balancer.url, tmp_path)
        rate = min(capacity / 2, MAX_RATE_PER_S)
        before = balancer.wait_idle()  # wrk's last requests counted
        with SteadyLoad(balancer.url, rate) as load:
            time.sleep(1.0)
            replace("old-a", "new-a")
            replace("old-b", "new-b")
            time.sleep(1.0)
        after = balancer.wait_idle()

    def during(name: str, counter: str) -> int:
        return int(after[name][counter] or 0) - int(before[name][counter] or 0)

    served = {name: during(name, "hrsp_2xx") for name in names}

    elapsed_s = load.stopped_at - load.started_at
    print(
        f"\nrollout: capacity {capacity:.0f} rps, load {rate:.0f} rps for {elapsed_s:.1f} s: "
        f"{load.total} requests, {load.non_2xx} non-2xx, {sum(load.errors.values())} "
        f"connection errors; 2xx per instance {served}"
    )
    assert rate <= capacity / 2
    assert load.non_2xx == 0, dict(load.statuses)
    assert sum(load.errors.values()) == 0, dict(load.errors)
    # HAProxy's own account agrees: every request it forwarded got a 2xx, none failed.
    assert during("BACKEND", "hrsp_2xx") == load.total
    assert [during("BACKEND", c) for c in ("hrsp_5xx", "econ", "eresp")] == [0, 0, 0]
    # The load ran at its rate throughout (a stalled client would prove nothing)...
    assert load.total >= 0.8 * rate * elapsed_s
    # ...and moved from the old instances to the new ones.
    assert all(served[name] > 0 for name in names), served
