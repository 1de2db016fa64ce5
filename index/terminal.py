"""Render an ``Answer`` for the terminal: block quotes with citation numbers, then sources."""

from __future__ import annotations

import textwrap

from .answers import Answer


def render_answer(answer: Answer, width: int = 88) -> str:
    lines: list[str] = []
    if answer.follows:
        lines.append(f"(following up on: {answer.follows})\n")
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
