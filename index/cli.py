"""The ``articlebot`` command: parse arguments, build Settings, call the core, format.

Heavy libraries are imported inside the commands so that ``--help`` is instant.
Other packages add subcommands through the ``articlebot.commands`` entry-point
group (the Discord bot does), so this core never imports them.
"""

from __future__ import annotations

import argparse
import errno
import json
import re
import sqlite3
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_args import add_core_commands
from .errors import ArticlebotError, ConfigError
from .terminal import err, out
from .types import SHARED, reading_scopes

if TYPE_CHECKING:
    from .indexing import IndexReport
    from .settings import Settings

Handler = Callable[[argparse.Namespace, "Settings"], int]
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
SKIPS_SHOWN = 5  # robots.txt skips listed one per line; the rest are counted (and in --json)


def build_settings(args: argparse.Namespace) -> Settings:
    """The one Settings object of this run: environment and .env, then command-line flags."""
    from pydantic import ValidationError

    from .settings import Settings

    overrides: dict[str, Any] = {}
    if getattr(args, "index_dir", None):
        overrides["index_dir"] = args.index_dir
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"ARTICLEBOT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(
            f"Invalid setting ({problems}). Fix it in the environment or .env."
        ) from None
    if settings.index_dir.exists() and not settings.index_dir.is_dir():
        raise ConfigError(
            f"The index folder {settings.index_dir} is a file; point ARTICLEBOT_INDEX_DIR "
            "(or --index-dir) at a folder."
        )
    return settings


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from .embedding import make_embedder
    from .indexing import run_index
    from .progress import make_progress

    if args.copy_from is not None:
        return copy_from(args, settings)
    paths, urls = split_sources(args.paths)
    remove, remove_urls = split_sources(args.remove)
    if args.server and (paths or remove):
        raise ConfigError(
            "--server takes web sources only: folders and files are shared by every server. "
            "Index them without --server."
        )
    embedder = make_embedder(settings)
    progress = make_progress(enabled=not args.json)
    try:
        report = run_index(
            settings,
            embedder,
            paths,
            urls=urls,
            rebuild=args.rebuild or args.repair,
            remove=remove,
            remove_urls=remove_urls,
            prune=args.prune,
            scope=args.server or SHARED,
            progress=progress,
        )
    finally:
        progress.close()
    prepare_tuned_encoders(settings)
    print_index_report(report, args.json)
    return 1 if report.failed else 0


def print_index_report(report: IndexReport, as_json: bool) -> None:
    """Warnings, failures and skips on stderr; the report (or its summary line) on stdout."""
    for warning in report.warnings:
        err(f"warning: {warning}")
    for failure in report.failed:
        err(f"failed: {failure.path}: {failure.reason}")
    for skip in report.skipped_urls[:SKIPS_SHOWN]:
        err(f"skipped: {skip.url}: {skip.reason}")
    if len(report.skipped_urls) > SKIPS_SHOWN:
        more = len(report.skipped_urls) - SKIPS_SHOWN
        err(f"skipped: {more} more URL(s) that robots.txt disallows (--json lists them all)")
    if report.skipped and not as_json:
        err(f"note: {report.skipped} file(s) of unsupported types skipped")
    if as_json:
        payload = {k: v for k, v in vars(report).items() if k not in ("failed", "skipped_urls")}
        payload["failed"] = [vars(f) for f in report.failed]
        payload["skipped_urls"] = [vars(s) for s in report.skipped_urls]
        out(json.dumps(payload))
    else:
        out(report.summary())


def prepare_tuned_encoders(settings: Settings) -> None:
    """Export the tuned question encoder and the re-ranking pair (``index.embedding.tuning``)
    with the index, so the first question does not wait for them (a no-op once cached,
    and for torch)."""
    from .embedding import make_question_embedder, make_rerank_embedders

    if settings.effective_backend == "torch":
        return
    for encoder in (make_question_embedder(settings), *(make_rerank_embedders(settings) or ())):
        if encoder is not None:
            encoder.embed(["warm up"])


def copy_from(args: argparse.Namespace, settings: Settings) -> int:
    """``index --copy-from DIR``: the local index in DIR into the configured PostgreSQL
    store, vectors and all (no embedding)."""
    from .progress import make_progress
    from .stores import open_store
    from .stores.copy import copy_index
    from .stores.local import LocalStore

    if not settings.database_url:
        raise ConfigError(
            "--copy-from copies a local index into PostgreSQL: set ARTICLEBOT_DATABASE_URL "
            "to the database to copy it into."
        )
    if args.paths or args.remove or args.rebuild or args.repair or args.prune:
        raise ConfigError("--copy-from takes no paths, URLs, --remove, --rebuild or --prune.")
    target = open_store(settings)
    progress = make_progress(enabled=not args.json)
    try:
        with target.writer_lock():
            source = LocalStore(args.copy_from)
            summary = copy_index(source, target, settings.ann_threshold, progress)
    finally:
        progress.close()
    if args.json:
        out(json.dumps(summary))
    else:
        out(
            f"copied {summary['articles']} articles / {summary['passages']} passages "
            f"(no embedding) / {summary['seconds']:.1f} s"
        )
    return 0


def split_sources(args: Sequence[str]) -> tuple[list[Path], list[str]]:
    """Paths and URLs: anything with a scheme (``https://``, ``ftp://``) is a URL, so an
    unsupported scheme is refused as one instead of looked for as a folder."""
    urls = [arg for arg in args if _SCHEME.match(arg)]
    return [Path(arg) for arg in args if not _SCHEME.match(arg)], urls


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    stats = index_stats(settings, args.check, args.server)
    if args.json:
        out(json.dumps(stats))
    else:
        print_stats(stats)
    return 0


def index_stats(settings: Settings, check: bool, server: str | None = None) -> dict[str, Any]:
    """What the index holds, as ``stats --json`` prints it; ``check``: verify it first;
    ``server``: what that Discord server's questions read, and its own sources only."""
    from .stores import open_store

    view = open_store(settings).open_view()
    try:
        if check:
            view.verify()  # raises IndexDamagedError, one line, exit 2
        m = view.manifest
        roots = view.roots()
        web = web_sources(view, settings.index_dir)
        scoped = {} if server is None else _server_stats(view, server)
        if server is not None:
            web = [w for w in web if server in w["scopes"]]
        return {
            "articles": int(m.get("articles", 0)),
            "passages": int(m.get("passages", 0)),
            "model": m.get("model"),
            "dimension": m.get("dimension"),
            "index_type": m.get("index_type"),
            "chunk_tokens": m.get("chunk_tokens"),
            "generation": m.get("generation"),
            "built_at": m.get("built_at"),
            "size_bytes": view.size_on_disk(),
            "index_dir": str(settings.index_dir.resolve()),
            "store": "postgresql" if settings.database_url else "local",
            "roots": roots,
            "sources": web,
            "scopes": {k: {"articles": a, "passages": p} for k, (a, p) in _scopes(view)},
            **scoped,
        }
    finally:
        view.close()


def _scopes(view: Any) -> list[tuple[str, tuple[int, int]]]:
    """Articles and passages per scope: shared first, then servers by id."""
    counts = view.scope_counts()
    return sorted(counts.items(), key=lambda kv: (kv[0] != SHARED, len(kv[0]), kv[0]))


def _server_stats(view: Any, server: str) -> dict[str, Any]:
    readable, _ = view.articles_page(0, 0, reading_scopes(server))
    own, _ = view.scope_counts().get(server, (0, 0))
    return {"server": server, "server_articles": own, "server_readable_articles": readable}


def print_stats(stats: dict[str, Any]) -> None:
    """The stats one per line, then a line per web source."""
    web = stats["sources"]
    shown = {
        **stats,
        "size_bytes": f"{stats['size_bytes'] / 2**20:.1f} MB",
        "roots": ", ".join(stats["roots"]) or "(none)",
        "sources": len(web) or "(none)",
        "scopes": ", ".join(
            f"{k} {v['articles']} articles / {v['passages']} passages"
            for k, v in stats["scopes"].items()
        )
        or "(none)",
    }
    for key, value in shown.items():
        out(f"{key:>12}: {value}")
    for source in web:
        synced = source["last_sync"] or "never"
        skipped = f" · {source['skipped']} skipped (robots.txt)" if source.get("skipped") else ""
        error = f" · failed: {source['error']}" if source["error"] else ""
        scopes = "" if source["scopes"] == [SHARED] else " · " + ", ".join(source["scopes"])
        out(
            f"  {source['url']} ({source['kind'] or '?'}): {source['articles']} articles"
            f"{scopes} · last sync {synced}{skipped}{error}"
        )


def web_sources(view: Any, index_dir: Path) -> list[dict[str, Any]]:
    """Each web source with its article count and its last sync (from the sync log)."""
    from .web import state

    counts = view.web_article_counts()
    log = state.read_sync_log(index_dir)
    out = []
    for url, source in sorted(view.web_state().sources.items()):
        run = log.get(url, {})
        out.append(
            {
                "url": url,
                "kind": source.kind,
                "scopes": sorted(source.scopes, key=lambda s: (s != SHARED, len(s), s)),
                "articles": counts.get(url, 0),
                "last_sync": run.get("last_sync"),
                "last_ok": run.get("last_ok"),
                "skipped": run.get("skipped", 0),  # robots.txt disallowed, at the last sync
                "error": run.get("error"),
            }
        )
    return out


def _filters(args: argparse.Namespace) -> Any:
    from .types import Filters

    return Filters(args.source, args.since, args.until, reading_scopes(args.server))


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from .retrieval import open_retriever

    retriever = open_retriever(settings)
    hits = retriever.search(args.query, args.k, _filters(args))
    if args.json:
        out(json.dumps([vars(h) for h in hits], ensure_ascii=False))
        return 0
    for rank, h in enumerate(hits, 1):
        dense = "-" if h.dense is None else f"{h.dense:.3f}"
        lexical = "-" if h.lexical is None else f"{h.lexical:.2f}"
        snippet = " ".join(h.text.split())
        out(f"{rank:>2}. fused {h.score:.4f}  dense {dense}  lexical {lexical}  {h.title}")
        out(f"    {h.path or h.url or ''}")
        out(f"    {snippet[:300]}{'…' if len(snippet) > 300 else ''}")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from .answering import answer
    from .retrieval import open_retriever
    from .terminal import render_answer

    retriever = open_retriever(settings)
    filters = _filters(args)
    if args.question == "-":  # batch: one question per line, model loaded once
        failed = False
        # Bytes, decoded per line: one line of invalid UTF-8 must not stop the batch.
        for raw in sys.stdin.buffer:
            question = raw.decode("utf-8", errors="replace").strip()
            if not question:
                continue
            try:
                reply = answer(retriever, question, filters).to_json()
            except ArticlebotError as exc:  # say which line failed, then go on
                failed = True
                reply = {"question": question, "error": str(exc)}
            out(json.dumps(reply, ensure_ascii=False), flush=True)
        return 1 if failed else 0
    result = answer(retriever, args.question, filters)
    if args.json:
        out(json.dumps(result.to_json(), ensure_ascii=False))
    else:
        print(render_answer(result))  # lines of article text: render_answer made it printable
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from .evaluation import evaluate, feedback_summary, load_questions
    from .progress import make_progress
    from .retrieval import MODES, open_retriever

    if args.feedback:
        summary = feedback_summary(settings, args.export_disliked)
        out(
            json.dumps(summary) if args.json else "  ".join(f"{k}: {v}" for k, v in summary.items())
        )
        return 0
    if not args.questions:
        raise ConfigError("Give a question file (JSONL or SQuAD JSON), or --feedback.")
    questions = load_questions(Path(args.questions))
    retriever = open_retriever(settings)
    retriever.warm_up()
    modes = MODES if args.mode == "all" else (args.mode,)
    progress = make_progress(enabled=not args.json)
    try:
        reports = [
            evaluate(retriever, questions, k=args.k, mode=m, progress=progress) for m in modes
        ]
    finally:
        progress.close()
    if args.json:
        out(json.dumps([r.to_json(args.verbose) for r in reports]))
        return 0
    from .terminal import render_eval

    print(render_eval(reports, args.k, verbose=args.verbose))  # printable, like answers
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="articlebot", description="Answer questions with cited quotes from your articles."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", type=Path, help="index folder (ARTICLEBOT_INDEX_DIR)")
    add_core_commands(sub, common)
    for name, handler in COMMANDS.items():
        sub.choices[name].set_defaults(handler=handler)
    for ep in entry_points(group="articlebot.commands"):
        try:
            ep.load()(sub, common)
        except ImportError as exc:  # a broken plugin must not take the core CLI down
            err(f"warning: command {ep.name!r} unavailable ({exc})")
    return parser


COMMANDS: dict[str, Handler] = {
    "index": cmd_index,
    "stats": cmd_stats,
    "search": cmd_search,
    "ask": cmd_ask,
    "eval": cmd_eval,
}


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk is full, as SQLite, FAISS and the OS each say it."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    text = str(exc).lower()
    return "disk is full" in text or "no space left" in text


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = build_settings(args)
        return int(args.handler(args, settings))
    except ArticlebotError as exc:
        err(f"error: {exc}")
        return exc.exit_code
    except BrokenPipeError:
        return reader_gone()
    except (OSError, sqlite3.Error, RuntimeError) as exc:  # after BrokenPipeError, an OSError
        if not disk_full(exc):
            raise
        err(
            "error: the disk is full; free some space and run again "
            "(the previous index is unchanged)."
        )
        return 1
    except KeyboardInterrupt:
        err("interrupted; the previous index is unchanged")
        return 130


def reader_gone() -> int:
    """The reader (`| head`) stopped reading: not an error. Point stdout at devnull so
    the interpreter's final flush does not raise again."""
    import os

    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
