"""The monitoring component's copies are what monitoring/'s and grafana/'s generators write
today (kustomize cannot read outside k8s/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grafana import generate as dashboards
from k8s import generate
from monitoring import slo_rules


def test_the_committed_copies_are_current() -> None:
    for path, text in generate.current().items():
        assert path.read_text() == text, f"stale: {path}; run `make k8s`"
    assert generate.main(["--check"]) == 0


def test_every_dashboard_and_the_rule_are_copied_and_nothing_else() -> None:
    names = {path.name for path in dashboards.current()}
    assert {p.name for p in generate.DASHBOARDS.iterdir()} == names
    copied = generate.current()
    assert set(copied) == {generate.RULE, *(generate.DASHBOARDS / name for name in names)}


def test_a_copy_is_its_source_byte_for_byte_after_the_rules_one_comment_line() -> None:
    """Against the committed sources themselves, not the generator's output."""
    assert generate.RULE.read_text().split("\n", 1)[1] == slo_rules.OPERATOR.read_text()
    for source in (Path(dashboards.DASHBOARDS)).glob("*.json"):
        assert (generate.DASHBOARDS / source.name).read_bytes() == source.read_bytes()


def test_the_check_fails_on_a_stale_or_missing_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rule, boards = tmp_path / "prometheusrule.yaml", tmp_path / "dashboards"
    monkeypatch.setattr(generate, "RULE", rule)
    monkeypatch.setattr(generate, "DASHBOARDS", boards)
    assert generate.main(["--check"]) == 1  # none written yet
    assert generate.main([]) == 0
    assert generate.main(["--check"]) == 0
    rule.write_text(rule.read_text().replace("severity", "Severity", 1))
    assert generate.main(["--check"]) == 1
    assert generate.main([]) == 0
    next(boards.iterdir()).unlink()
    assert generate.main(["--check"]) == 1
