"""Answer -> Discord embed: quotes as block quotes with citation numbers, sources, footer.

Pure functions (no network): every piece of article text and every echoed question is
escaped so it cannot format, hide links or mention anyone, and every Discord limit is
kept with room to spare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from discord.utils import escape_markdown

from index import Answer, Quote, sentence_spans

# Discord's limits, and ours with room to spare.
CONTENT_LIMIT, DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, TITLE_LIMIT = 2000, 4096, 6000, 256
FIELD_VALUE_LIMIT = 1024
OUR_DESCRIPTION = 3500
OUR_QUOTE = 900
OUR_SOURCES = 1000
OUR_TITLE = 200

_LINE_START = re.compile(r"(?m)^(\s*)([#>\-*+]|\d+[.)])")
_MENTION = re.compile(r"<(?=[@#:/]|a:|t:)")
_EVERYONE = re.compile(r"@(everyone|here)", re.IGNORECASE)


def escape(text: str) -> str:
    """Show ``text`` literally: no markdown, no masked links, no mentions, no headings."""
    text = escape_markdown(text.replace("\\", "\\\\"))
    text = _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
    text = _MENTION.sub("<\u200b", text)
    return _EVERYONE.sub("@\u200b\\1", text)


def escape_inline(text: str) -> str:
    """``escape`` for text shown in the middle of a line (after a label): newlines become
    spaces, and so a leading "1." or "#" needs no backslash: it cannot start a list or a
    heading there."""
    text = escape_markdown(" ".join(text.split()).replace("\\", "\\\\"))
    text = _MENTION.sub("<\u200b", text)
    return _EVERYONE.sub("@\u200b\\1", text)


def safe(text: str, limit: int, *, inline: bool = False) -> str:
    """``text`` escaped, and at most ``limit`` characters *after* escaping: escaping can
    double a text's length, so a title cut to 200 and then escaped could pass Discord's
    256. Every string from an article or a user goes through here. ``inline``: the text
    goes after a label on one line (see ``escape_inline``)."""
    escaper = escape_inline if inline else escape
    cut = limit
    while cut > 1:
        out = escaper(shorten(text, cut))
        if len(out) <= limit:
            return out
        cut = min(cut - 1, cut - (len(out) - limit))
    return "…"


MAX_LINK = 300  # a longer url is shown as its site, not as a link that fills the field


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` chars at a sentence end, else a word boundary,
    with an ellipsis; never mid-word."""
    if len(text) <= limit:
        return text
    room = limit - 2  # for " …"
    ends = [e for _, e in sentence_spans(text) if e <= room]
    if ends and ends[-1] >= room // 2:
        return text[: ends[-1]] + " …"
    cut = text.rfind(" ", 0, room + 1)
    if cut <= 0:  # one enormous "word": nothing sensible to cut at but the limit
        return text[:room] + " …"
    return text[:cut].rstrip() + " …"


@dataclass(frozen=True)
class EmbedSpec:
    """A Discord embed as plain data (easy to test, turned into ``discord.Embed`` at the edge)."""

    title: str
    description: str
    fields: tuple[tuple[str, str], ...] = ()
    footer: str = ""
    url: str | None = None
    color: int = 0x2B6CB0
    extra: dict[str, Any] = field(default_factory=dict)

    def total_length(self) -> int:
        return (
            len(self.title)
            + len(self.description)
            + len(self.footer)
            + sum(len(n) + len(v) for n, v in self.fields)
        )


def render_quote(quote: Quote, limit: int = OUR_QUOTE) -> str:
    body = shorten(quote.text, limit)
    lead = "… " if quote.elided_before else ""
    tail = " …" if quote.elided_after and not body.endswith("…") else ""
    lines = escape(lead + body + tail).split("\n")
    return "\n".join(f"> {line}" for line in lines) + f" **[{quote.citation}]**"


def render_answer(answer: Answer, freshness: str = "") -> EmbedSpec:
    title = safe(answer.question.replace("\n", " "), OUR_TITLE)
    if answer.abstained:
        return _render_abstention(answer, title, freshness)
    parts: list[str] = []
    if answer.follows:
        parts.append(f"*Following up on:* {safe(answer.follows, 150)}")
    if corrections := answer.corrections():
        parts.append(f"*Searched for:* {safe(corrections, 150)}")
    for quote in answer.quotes:
        block = render_quote(quote)
        if sum(len(p) + 2 for p in parts) + len(block) > OUR_DESCRIPTION:
            block = render_quote(quote, limit=max(80, OUR_DESCRIPTION // 4))
            if sum(len(p) + 2 for p in parts) + len(block) > OUR_DESCRIPTION:
                break
        parts.append(block)
    sources = render_sources(answer)
    return EmbedSpec(
        title=title,
        description="\n\n".join(parts),
        fields=(("Sources", sources),),
        footer=freshness,
    )


def render_sources(answer: Answer) -> str:
    lines: list[str] = []
    for s in answer.sources:
        name = safe(s.title, 120)
        meta = " · ".join(safe(x, 60) for x in (s.source, s.date) if x)
        link = next((u for u in (s.link, s.url) if u and len(u) <= MAX_LINK), None)
        if link:
            link = link.replace(")", "%29").replace(" ", "%20")
            line = f"**[{s.citation}]** [{name}]({link})"
        else:
            where = safe(_site(s.url) if s.url else s.path or "", 120)
            line = f"**[{s.citation}]** {name}" + (f" — {where}" if where else "")
        line += f" ({meta})" if meta else ""
        if sum(len(x) + 1 for x in lines) + len(line) > OUR_SOURCES:
            lines.append(f"… and {len(answer.sources) - len(lines)} more")
            break
        lines.append(line)
    return "\n".join(lines) or "—"


def _site(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


def _render_abstention(answer: Answer, title: str, freshness: str) -> EmbedSpec:
    lines = ["The articles don't seem to cover this."]
    if answer.closest:
        lines.append("\nClosest articles:")
        lines.extend(f"• {safe(t, 150)}" for t in answer.closest)
    return EmbedSpec(title=title, description="\n".join(lines), footer=freshness, color=0x718096)


def to_discord(spec: EmbedSpec) -> Any:
    import discord

    embed = discord.Embed(title=spec.title, description=spec.description, color=spec.color)
    for name, value in spec.fields:
        embed.add_field(name=name, value=value[:FIELD_VALUE_LIMIT], inline=False)
    if spec.footer:
        embed.set_footer(text=spec.footer)
    assert len(embed) <= EMBED_TOTAL_LIMIT and len(spec.description) <= DESCRIPTION_LIMIT
    return embed
