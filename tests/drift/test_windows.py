"""Window history: the counts of the last W seconds, bounded memory, saved for the next leader."""

from pathlib import Path

import numpy as np

from app.drift.windows import RESOLUTION, History, Snapshot


def snap(at: float, total: int) -> Snapshot:
    return Snapshot(at, np.array([total, 2 * total], dtype=np.int64))


def test_window_counts_are_totals_minus_the_totals_a_window_ago() -> None:
    history = History(longest_window_s=60)
    for t in range(0, 61, 1):
        history.add(snap(t, t * 10))
    now = snap(70, 700)
    window = history.window(now, 30)
    assert window.covered_seconds >= 30
    assert window.covered_seconds < 30 + 60 / RESOLUTION + 1
    assert window.counts.tolist() == [700 - 10 * (70 - window.covered_seconds)] * 1 + [
        2 * (700 - 10 * (70 - window.covered_seconds))
    ]


def test_a_young_history_covers_what_it_has() -> None:
    history = History(longest_window_s=3600)
    history.add(snap(100, 0))
    window = history.window(snap(160, 50), 900)
    assert window.covered_seconds == 60
    assert window.counts.tolist() == [50, 100]


def test_memory_stays_bounded() -> None:
    history = History(longest_window_s=100)
    for t in range(10_000):
        history.add(snap(t * 0.5, t))
    assert len(history) <= RESOLUTION + 3


def test_save_and_load_carry_the_history(tmp_path: Path) -> None:
    history = History(longest_window_s=60)
    for t in range(0, 30, 5):
        history.add(snap(t, t))
    history.save(tmp_path / "h.npz")
    inherited = History(longest_window_s=60)
    inherited.load(tmp_path / "h.npz")
    now = snap(40, 40)
    assert inherited.window(now, 20).counts.tolist() == history.window(now, 20).counts.tolist()


def test_a_missing_or_torn_file_starts_fresh(tmp_path: Path) -> None:
    history = History(longest_window_s=60)
    history.load(tmp_path / "absent.npz")
    (tmp_path / "torn.npz").write_bytes(b"PK\x03\x04garbage")
    history.load(tmp_path / "torn.npz")
    assert len(history) == 0
