"""`articlebot bot`: registered into the core CLI through the articlebot.commands entry point."""

from __future__ import annotations

import argparse
from typing import Any


def cmd_bot(args: argparse.Namespace, settings: Any) -> int:
    from .app import run_bot

    return run_bot(settings, sync=args.sync)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("bot", parents=[common], help="run the Discord bot")
    p.add_argument("--sync", action="store_true", help="force a global slash-command sync")
    p.set_defaults(handler=cmd_bot)
