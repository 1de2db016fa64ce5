"""Discord's message markup, left out of a question before it is answered.

A question typed in Discord can carry mentions, channel links, custom emoji and timestamps
(https://discord.com/developers/docs/reference#message-formatting). No article holds
``<@&123>`` or ``@everyone``, so as words they only pull the question towards an
abstention. Ordinary text that merely contains ``<`` or ``@`` (``a < b``, ``<3``,
``a@everyone.com``, ``@handle``) is kept.
"""

from __future__ import annotations

import re

#: What a question that is nothing but markup (or nothing at all) gets instead of an answer.
NO_WORDS = "Ask a question in words: mentions, channels and emoji are left out."

_MARKUP = re.compile(
    r"<(?:"
    r"@[!&]?\d+"  # user <@id>, nickname <@!id>, role <@&id>
    r"|#\d+"  # channel
    r"|a?:\w+:\d+"  # custom emoji, animated or not
    r"|t:-?\d+(?::[A-Za-z])?"  # timestamp, with or without a style letter
    r"|/[\w-]+(?: [\w-]+){0,2}:\d+"  # slash command, with its subcommand (group)
    r"|id:[a-z-]+(?::\d+)?"  # guild navigation: <id:browse>, <id:linked-roles:123>
    r")>"
    # @everyone and @here as whole tokens, case-sensitive as Discord is: not an e-mail
    # address (a@everyone.com) nor a longer handle (@heretic, @everyone.com).
    r"|(?<![\w@.])@(?:everyone|here)\b(?![.@'’-]?\w)"
)


def strip_markup(text: str) -> str:
    """``text`` without Discord markup; the whitespace around what was removed is
    collapsed. Text without markup is returned unchanged."""
    stripped, removed = _MARKUP.subn(" ", text)
    return " ".join(stripped.split()) if removed else text
