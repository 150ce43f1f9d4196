"""The drain flag: the master's one byte, seen by every process that maps it."""

import subprocess
import sys
from pathlib import Path

import pytest

from app.drain_flag import FLAG_FILE, DrainFlag
from tests.support.processes import ROOT


def test_a_new_flag_is_unset_and_a_set_is_seen_by_views_opened_before_and_after(
    tmp_path: Path,
) -> None:
    master = DrainFlag.create(tmp_path)
    early = DrainFlag.open(tmp_path)
    assert not master.is_set
    assert not early.is_set
    master.set()
    late = DrainFlag.open(tmp_path)  # a worker started during the drain (a replacement)
    assert (master.is_set, early.is_set, late.is_set) == (True, True, True)


def test_another_process_sees_the_set_without_reopening(tmp_path: Path) -> None:
    """A worker maps the flag once; the master's later write reaches its mapping."""
    master = DrainFlag.create(tmp_path)
    reader = (
        "import sys; from pathlib import Path; from app.drain_flag import DrainFlag\n"
        f"flag = DrainFlag.open(Path({str(tmp_path)!r}))\n"
        "print(flag.is_set, flush=True); sys.stdin.readline(); print(flag.is_set, flush=True)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", reader], cwd=ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    ) as child:  # fmt: skip
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline().strip() == "False"
        master.set()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "True"
        assert child.wait(timeout=30) == 0


def test_a_restarted_master_starts_unset(tmp_path: Path) -> None:
    DrainFlag.create(tmp_path).set()
    assert not DrainFlag.create(tmp_path).is_set
    assert (tmp_path / FLAG_FILE).read_bytes() == b"\0"


@pytest.mark.parametrize("where", ["no directory", "no master"])
def test_without_a_master_the_flag_is_never_set(tmp_path: Path, where: str) -> None:
    flag = DrainFlag.open(None if where == "no directory" else tmp_path)
    assert not flag.is_set
    with pytest.raises(RuntimeError):
        flag.set()


def test_a_workers_view_cannot_start_a_drain(tmp_path: Path) -> None:
    DrainFlag.create(tmp_path)
    with pytest.raises(TypeError):
        DrainFlag.open(tmp_path).set()
