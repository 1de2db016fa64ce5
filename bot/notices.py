"""The "queued" notice an asker gets while every answer slot is taken, and how the answer
then replaces it: for a deferred interaction (/ask, More quotes) the notice is the edited
"thinking…" message and the answer edits it again; for an @mention or DM the notice is a
short reply, deleted once the answer is out."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import discord

from .base import NO_MENTIONS

log = logging.getLogger("articlebot.bot")


def queued_text(ahead: int) -> str:
    """``ahead``: questions before this one, being answered or queued earlier."""
    plural = "question" if ahead == 1 else "questions"
    return f"queued: {ahead} {plural} ahead; your answer follows."


class InteractionNotice:
    """For a deferred interaction: call it with the count ahead; ``deliver`` the answer."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction
        self.shown = False

    async def __call__(self, ahead: int) -> None:
        try:
            await self.interaction.edit_original_response(content=queued_text(ahead))
        except discord.HTTPException as exc:  # the answer still comes as a follow-up
            log.debug("could not show the queued notice: %s", exc)
            return
        self.shown = True

    async def deliver(self, **message: Any) -> discord.Message:
        """The answer: in place of the notice when one was shown, else the follow-up."""
        if self.shown:
            return await self.interaction.edit_original_response(
                content=None, allowed_mentions=NO_MENTIONS, **message
            )
        return await self.interaction.followup.send(
            allowed_mentions=NO_MENTIONS, wait=True, **message
        )

    async def retract(self) -> None:
        """Remove the notice (when the reply is a private one instead of an answer)."""
        if self.shown:
            with contextlib.suppress(discord.HTTPException):
                await self.interaction.delete_original_response()
            self.shown = False


class ReplyNotice:
    """For an @mention or DM: a short reply while queued, deleted by ``retract``."""

    def __init__(self, message: discord.Message) -> None:
        self.message = message
        self.sent: discord.Message | None = None

    async def __call__(self, ahead: int) -> None:
        try:
            self.sent = await self.message.reply(
                queued_text(ahead), allowed_mentions=NO_MENTIONS, mention_author=False
            )
        except discord.HTTPException as exc:  # the answer still comes
            log.debug("could not send the queued notice: %s", exc)

    async def retract(self) -> None:
        sent, self.sent = self.sent, None
        if sent is not None:
            with contextlib.suppress(discord.HTTPException):
                await sent.delete()


__all__ = ["InteractionNotice", "ReplyNotice", "queued_text"]
