"""The admin port on real gunicorn: one master binds both addresses, every worker accepts on
both, each path answers on its own port and 404s on the other, and the admin port's /metrics
counts exactly what the public port served."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.integration.test_metrics import check_totals, send_mix
from tests.support.metrics import MissingSample, value
from tests.support.processes import Server, free_port, group_members, gunicorn

WORKERS = 2
ROW = {"age": 30, "signup_month": "June"}
ADMIN_GETS = ["/metrics", "/drift"]
PUBLIC_GETS = ["/healthz", "/readyz", "/model", "/docs", "/redoc", "/openapi.json"]
PUBLIC_POSTS = {"/predict": ROW, "/predict/batch": {"rows": [ROW, ROW]}}


def listening_ports(pid: int) -> set[int]:
    """The TCP ports ``pid`` holds a listening socket of (its fds against /proc/net/tcp)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    admin_port = free_port()
    env = {"GLASSBOX_ADMIN_PORT": str(admin_port)}
    with gunicorn(tmp_path_factory.mktemp("ports"), workers=WORKERS, env=env) as running:
        yield running, f"http://127.0.0.1:{admin_port}"


def test_one_gunicorn_listens_on_both_ports_in_every_worker(server: tuple[Server, str]) -> None:
    running, admin = server
    admin_port = int(admin.rsplit(":", 1)[1])
    workers = running.worker_pids()
    assert len(workers) == WORKERS
    assert group_members(running.master_pid) == sorted([running.master_pid, *workers]), (
        "no process beyond the master and its workers"
    )
    for pid in [running.master_pid, *workers]:
        assert listening_ports(pid) == {running.port, admin_port}, pid


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_the_admin_paths_answer_on_the_admin_port_and_404_on_the_public_one(
    server: tuple[Server, str], path: str
) -> None:
    running, admin = server
    assert httpx2.get(admin + path, timeout=10).status_code == 200
    refused = httpx2.get(running.url + path, timeout=10)
    assert refused.status_code == 404
    assert refused.json() == httpx2.get(running.url + "/no-such-path", timeout=10).json()


@pytest.mark.parametrize("path", PUBLIC_GETS + list(PUBLIC_POSTS))
def test_the_public_paths_answer_on_the_public_port_and_404_on_the_admin_one(
    server: tuple[Server, str], path: str
) -> None:
    running, admin = server

    def ask(base: str) -> httpx2.Response:
        if path in PUBLIC_POSTS:
            return httpx2.post(base + path, json=PUBLIC_POSTS[path], timeout=10)
        return httpx2.get(base + path, timeout=10)

    assert ask(running.url).status_code == 200
    refused = ask(admin)
    assert refused.status_code == 404
    assert refused.json() == {"error": "not_found", "message": "Not Found", "detail": []}


def test_the_admin_port_counts_exactly_what_the_public_port_served(tmp_path: Path) -> None:
    """A fresh server: every count starts at zero, so the scrape must equal what was sent,
    spread over both workers (new connections), read on the admin port."""
    admin_port = free_port()
    with gunicorn(tmp_path, workers=WORKERS, env={"GLASSBOX_ADMIN_PORT": str(admin_port)}) as s:
        sent = send_mix(s, rounds=40)
        for _ in range(5):  # asked on the wrong port: not the service's traffic
            assert (
                httpx2.post(f"http://127.0.0.1:{admin_port}/predict", json=ROW).status_code == 404
            )
        scrape = httpx2.get(f"http://127.0.0.1:{admin_port}/metrics", timeout=10)
        assert scrape.status_code == 200
        check_totals(scrape.text, sent)
        with pytest.raises(MissingSample):  # no 404 was counted, under any route
            value(scrape.text, "http_server_request_duration_seconds_count",
                  http_response_status_code="404")  # fmt: skip
