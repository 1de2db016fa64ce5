"""Render an ``Answer`` for the terminal: block quotes with citation numbers, then sources."""

from __future__ import annotations

import sys
import textwrap
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

from .answering import Answer

if TYPE_CHECKING:
    from .evaluation import ModeReport


def printable(text: str) -> str:
    """``text`` without control characters but line breaks and tabs: article text with
    ANSI or OSC escapes (``\\033[2J``, ``\\033]0;title\\007``) must not drive the terminal."""
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf"))


#: Control and format characters, and the Unicode line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def one_line(text: str) -> str:
    """``text`` as one inert line: control characters, line breaks and tabs included, shown
    escaped (ESC as ``\\u001b``). Escaped, not removed: these lines carry URLs and reasons
    from servers, and an odd byte must stay visible, not make two URLs look alike, drive
    the terminal or forge a line of its own."""
    return "".join(_escaped(c) if unicodedata.category(c) in _HIDDEN else c for c in text)


def _escaped(char: str) -> str:
    # JSON's escape (UTF-16 code units), so that a --json line stays JSON of the same value.
    units = char.encode("utf-16-be")
    return "".join(f"\\u{units[i] << 8 | units[i + 1]:04x}" for i in range(0, len(units), 2))


def out(line: str, *, flush: bool = False) -> None:
    """Print one line on stdout. Every line the CLI prints goes through ``out`` or
    ``err`` (answers and eval reports through ``printable``): URLs and reasons come
    from servers, and must not drive the terminal. A JSON line keeps its value."""
    print(one_line(line), flush=flush)


def err(line: str) -> None:
    """Print one line on stderr (see ``out``)."""
    print(one_line(line), file=sys.stderr)


def render_answer(answer: Answer, width: int = 88) -> str:
    return printable(_render_answer(answer, width))


def _render_answer(answer: Answer, width: int) -> str:
    lines: list[str] = []
    if answer.follows:
        lines.append(f"(following up on: {answer.follows})\n")
    if corrections := answer.corrections():
        lines.append(f"(searched for {corrections})\n")
    if answer.abstained:
        lines.append("The articles don't seem to cover this.")
        if answer.closest:
            lines.append("Closest articles:")
            lines.extend(f"  - {title}" for title in answer.closest)
        return "\n".join(lines)
    for quote in answer.quotes:
        body = ("… " if quote.elided_before else "") + quote.text
        body += (" …" if quote.elided_after else "") + f" [{quote.citation}]"
        for paragraph in body.split("\n"):
            wrapped = textwrap.wrap(paragraph, width - 2) or [""]
            lines.extend(f"> {line}" for line in wrapped)
        lines.append("")
    lines.append("Sources:")
    for s in answer.sources:
        where = s.link or s.url or s.path or ""
        meta = ", ".join(x for x in (s.source, s.author, s.date) if x)
        lines.append(f"  [{s.citation}] {s.title}" + (f" ({meta})" if meta else ""))
        if where:
            lines.append(f"      {where}")
    return "\n".join(lines)


def render_eval(reports: list[ModeReport], k: int, *, verbose: bool = False) -> str:
    """The modes side by side, one row per metric (``-v`` quotes article text: printable)."""
    return printable(_render_eval(reports, k, verbose=verbose))


def _render_eval(reports: list[ModeReport], k: int, *, verbose: bool) -> str:

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    cutoffs = sorted({1, 3, k})
    rows: list[tuple[str, list[str]]] = [
        ("questions (answerable)", [f"{r.questions} ({r.answerable})" for r in reports]),
        ("answer in first quote", [fmt(r.answer_first) for r in reports]),
        ("answer in any quote", [fmt(r.answer_any) for r in reports]),
        *[(f"passage recall@{c}", [fmt(r.recall.get(c)) for r in reports]) for c in cutoffs],
        (f"MRR@{k}", [fmt(r.mrr) for r in reports]),
        ("abstention precision", [fmt(r.abstain_precision) for r in reports]),
        ("abstention recall", [fmt(r.abstain_recall) for r in reports]),
        (
            "latency p50 / p95 ms",
            [f"{r.latency_p50_ms:.1f} / {r.latency_p95_ms:.1f}" for r in reports],
        ),
    ]
    rows += _kind_rows(reports, fmt)
    width = max(len(name) for name, _ in rows)
    col = max(14, *(len(v) for _, values in rows for v in values))
    lines = [" " * width + "  " + "  ".join(f"{r.mode:>{col}}" for r in reports)]
    lines += [
        f"{name:<{width}}  " + "  ".join(f"{v:>{col}}" for v in values) for name, values in rows
    ]
    if verbose:
        for r in reports:
            lines.append(f"\n{r.mode}: {len(r.failures)} failures")
            # Grouped by kind: look at what fails for a kind of question, not one by one.
            for f in sorted(r.failures, key=lambda f: f.kind or ""):
                kind = f" [{f.kind}]" if f.kind else ""
                lines.append(f"-{kind} {f.question}\n    expected: {f.expected}\n    why: {f.why}")
                lines.extend(f"    quoted: {q[:200]}" for q in f.quoted)
    return "\n".join(lines)


def _kind_rows(
    reports: list[ModeReport], fmt: Callable[[float | None], str]
) -> list[tuple[str, list[str]]]:
    """Per question kind (when the question set labels them): first / any quote and
    recall@1, or the share abstained for kinds that should be declined."""
    kinds = sorted({kind for r in reports for kind in r.by_kind})
    rows = []
    for kind in kinds:
        n = int(reports[0].by_kind.get(kind, {}).get("n", 0))
        values = []
        for r in reports:
            v = r.by_kind.get(kind, {})
            if "abstained" in v:
                values.append(f"abst {fmt(v['abstained'])}")
            else:
                values.append(
                    f"{fmt(v.get('answer_first'))}/{fmt(v.get('answer_any'))}/"
                    f"{fmt(v.get('recall1'))}"
                )
        label = (
            "abstained"
            if "abstained" in reports[0].by_kind.get(kind, {})
            else ("first/any/recall@1")
        )
        rows.append((f"{kind} ({n}): {label}", values))
    return rows
