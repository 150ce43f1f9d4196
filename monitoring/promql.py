"""PromQL read with a maintained parser (promql-parser, a binding of GreptimeDB's Rust parser).

Syntax only: the parser follows Prometheus 2.45's grammar, which Prometheus 3 also accepts for
everything these rules use; it checks no metric or label against a server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import promql_parser


@dataclass(frozen=True)
class Selector:
    """One vector selector: its metric name and its label matchers as (name, op, value)."""

    text: str
    metric: str
    matchers: tuple[tuple[str, str, str], ...]

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a series with these labels (its name under ``__name__``) is selected."""
        for name, op, value in (("__name__", "=", self.metric), *self.matchers):
            actual = labels.get(name, "")
            hit = re.fullmatch(value, actual) is not None if "~" in op else actual == value
            if hit != (op in ("=", "=~")):
                return False
        return True


# MatchOp is not hashable: looked up by equality.
_OPS = (
    (promql_parser.MatchOp.Equal, "="),
    (promql_parser.MatchOp.NotEqual, "!="),
    (promql_parser.MatchOp.Re, "=~"),
    (promql_parser.MatchOp.NotRe, "!~"),
)


def _op(op: promql_parser.MatchOp) -> str:
    return next(text for known, text in _OPS if op == known)


def parse(expr: str) -> promql_parser.Expr:
    """The expression's syntax tree; a ValueError names what does not parse."""
    try:
        return promql_parser.parse(expr)
    except ValueError as error:
        raise ValueError(f"{error}: {expr!r}") from error


def selectors(expr: str) -> list[Selector]:
    """Every vector selector of the expression (inside range selectors too), in order."""
    found: list[Selector] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = [(m.name, _op(m.op), m.value) for m in node.matchers.matchers]
            metric = node.name or dict((n, v) for n, _, v in matchers).get("__name__", "")
            rest = tuple(m for m in matchers if m[0] != "__name__")
            found.append(Selector(text=str(node), metric=metric, matchers=rest))

    promql_parser.walk(parse(expr), visit)
    return found
