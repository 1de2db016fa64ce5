"""The flags of the core ``articlebot`` commands: names, types, defaults and help texts.
``index.cli`` gives each command its handler."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def add_core_commands(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """index, stats, search, ask and eval, in the order --help lists them."""
    filters = _filter_flags()
    add_index_command(sub, common)
    add_stats_command(sub, common)
    add_search_command(sub, common, filters)
    add_ask_command(sub, common, filters)
    add_eval_command(sub, common)


def add_index_command(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("index", parents=[common], help="index articles (incremental)")
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH|URL",
        help="folders, files or web sources to add: an RSS/Atom feed, a sitemap, a site's "
        "home page (its feeds) or a page (default: re-sync the remembered ones)",
    )
    p.add_argument("--rebuild", action="store_true", help="start a new index from scratch")
    p.add_argument(
        "--repair",
        action="store_true",
        help="rebuild a damaged index from the sources it remembers (or the corpus setting)",
    )
    p.add_argument(
        "--remove",
        action="append",
        default=[],
        metavar="ROOT|URL",
        help="drop an indexed root or web source and its articles",
    )
    p.add_argument(
        "--prune",
        action="store_true",
        help="drop web articles their feed or sitemap no longer lists (kept by default: "
        "a news archive keeps its past)",
    )
    p.add_argument(
        "--copy-from",
        type=Path,
        metavar="DIR",
        help="copy the local index in DIR into the PostgreSQL store "
        "(ARTICLEBOT_DATABASE_URL), replacing what it holds; nothing is re-embedded",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_server_flag(p, "the web sources given and removed are that server's (default: shared)")


def add_server_flag(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--server", type=server_id, metavar="ID", help=f"act for a Discord server: {what}"
    )


def add_stats_command(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("stats", parents=[common], help="show what the index holds")
    p.add_argument("--json", action="store_true", help="print a flat JSON object")
    p.add_argument(
        "--check",
        action="store_true",
        help="also verify every file's checksum and SQLite's integrity (slower)",
    )
    add_server_flag(p, "count what its questions read, and show its sources")


def _filter_flags() -> argparse.ArgumentParser:
    """--source, --since and --until, shared by search and ask."""
    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument(
        "--source", help="only articles whose path/url/source matches (glob or prefix)"
    )
    filters.add_argument(
        "--since",
        type=iso_date,
        metavar="DATE",
        help="only articles dated on or after (YYYY-MM-DD)",
    )
    filters.add_argument(
        "--until", type=iso_date, metavar="DATE", help="only articles dated on or before"
    )
    add_server_flag(filters, "read the shared articles and its own (default: the shared ones)")
    return filters


def add_search_command(
    sub: Subparsers, common: argparse.ArgumentParser, filters: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("search", parents=[common, filters], help="ranked passages for a query")
    p.add_argument("query")
    p.add_argument("-k", type=positive_int, default=10, help="how many passages (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_ask_command(
    sub: Subparsers, common: argparse.ArgumentParser, filters: argparse.ArgumentParser
) -> None:
    p = sub.add_parser("ask", parents=[common, filters], help="answer with cited quotes")
    p.add_argument("question", help='the question, or "-" to read one per line from stdin')
    p.add_argument("--json", action="store_true", help="print the answer as JSON")


def add_eval_command(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("eval", parents=[common], help="measure retrieval and answers on questions")
    p.add_argument(
        "questions", nargs="?", help="JSONL ({question, answers, article}) or SQuAD JSON"
    )
    p.add_argument("--k", type=positive_int, default=10, help="recall cut-off (default 10)")
    p.add_argument("--mode", choices=["hybrid", "dense", "lexical", "all"], default="hybrid")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="list every failed question")
    p.add_argument("--feedback", action="store_true", help="score the bot's 👍/👎 feedback")
    p.add_argument(
        "--export-disliked",
        type=Path,
        metavar="FILE",
        help="with --feedback: write disliked questions as JSONL to fill in",
    )


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return number


def server_id(value: str) -> str:
    """An argparse type: a Discord server (guild) id, a whole number."""
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a Discord server id; copy it from Discord (Server Settings → "
            "Widget, or right-click the server with Developer Mode on), e.g. 123456789012345678"
        )
    return str(int(value))


def iso_date(value: str) -> str:
    """An argparse type: a calendar date written YYYY-MM-DD."""
    import datetime

    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2005-03-01"
        ) from None
