"""What one run covers: the folders and files (roots) and the web sources, remembered
ones plus those asked for, minus those removed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from ..errors import ConfigError, FetchError
from ..settings import Settings
from ..types import SHARED, WebSource, WebState
from ..web.guard import check_url
from .report import Request


def plan_run(
    settings: Settings,
    request: Request,
    old_roots: list[str],
    old_web: WebState,
    remembered: tuple[list[str], list[WebSource]],
    fresh: bool,
) -> tuple[list[WebSource], list[str]]:
    """The web sources and the roots of this run. ``fresh``: no index to start from;
    ``remembered``: the roots and sources a rebuild starts again from."""
    remembered_roots, remembered_sources = remembered
    sources = plan_sources(
        list(old_web.sources.values()) or remembered_sources,
        request.urls,
        request.remove_urls,
        request.scope,
        None if request.scope == SHARED else settings.server_max_sources,
    )
    if fresh and (remembered_roots or remembered_sources):  # --rebuild
        roots = plan_roots(remembered_roots, request.paths, request.remove, [])
    else:
        # A new index of URLs only does not also take in the default corpus folder.
        default = settings.corpus if fresh and not sources else []
        roots = plan_roots(old_roots, request.paths, request.remove, default)
    return sources, roots


def plan_sources(
    old: Sequence[WebSource],
    urls: Sequence[str],
    remove: Sequence[str],
    scope: str = SHARED,
    max_sources: int | None = None,
) -> list[WebSource]:
    """Remembered web sources, plus new URLs, minus removed ones (each checked: http(s)
    only, a host present), for ``scope``: a URL another scope holds too is shared with
    it (stored once), and removing one takes it out of ``scope`` only. ``max_sources``:
    how many ``scope`` may hold (None: no cap)."""
    try:
        added = [check_url(u) for u in urls]
        dropped = {check_url(u) for u in remove}
    except FetchError as exc:
        raise ConfigError(f"{exc}. Give an http:// or https:// URL.") from None
    known = {s.url: s for s in old}
    _check_removable(dropped - set(added), known, scope)
    for url in added:
        was = known.get(url, WebSource(url, scopes=frozenset()))
        known[url] = replace(was, scopes=was.scopes | {scope})
    for url in dropped:
        known[url] = replace(known[url], scopes=known[url].scopes - {scope})
    _check_cap(known.values(), scope, max_sources, [u for u in added if u not in dropped])
    return [known[u] for u in sorted(known) if known[u].scopes]


def _check_removable(dropped: set[str], known: dict[str, WebSource], scope: str) -> None:
    ours = sorted(u for u, s in known.items() if scope in s.scopes)
    unknown = sorted(u for u in dropped if scope not in getattr(known.get(u), "scopes", ()))
    if not unknown:
        return
    whose = "an indexed web source" if scope == SHARED else "a web source of this server"
    # The operator may act for a server; a server is never told of another's sources.
    servers = scope == SHARED and any(u in known for u in unknown)
    hint = " It is a Discord server's own: add --server ID." if servers else ""
    raise ConfigError(
        f"{', '.join(unknown)} is not {whose}; "
        f"the web sources are: {', '.join(ours) or '(none)'}.{hint}"
    )


def _check_cap(
    sources: Iterable[WebSource], scope: str, max_sources: int | None, added: list[str]
) -> None:
    held = sum(1 for s in sources if scope in s.scopes)
    if max_sources is None or not added or held <= max_sources:
        return
    raise ConfigError(
        f"This server would have {held} web sources; the most it may have is {max_sources} "
        "(ARTICLEBOT_SERVER_MAX_SOURCES). Remove one first."
    )


def plan_roots(
    old_roots: Sequence[str], paths: Sequence[Path], remove: Sequence[Path], default: Sequence[Path]
) -> list[str]:
    """Remembered roots, plus new paths (unless already covered), minus removed ones."""
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{path} does not exist; give a folder or file of articles.")
    if not old_roots and not paths:
        _check_default(default)
        paths = default
    roots = list(old_roots)
    for new in (str(p.resolve()) for p in paths):
        if under_any(new, set(roots)):
            continue
        roots = [r for r in roots if not under_any(r, {new})] + [new]
    dropped = {str(p.resolve()) for p in remove}
    unknown = dropped - set(roots)
    if unknown:
        raise ConfigError(
            f"{', '.join(sorted(unknown))} is not an indexed root; "
            f"the roots are: {', '.join(roots) or '(none)'}."
        )
    return sorted(r for r in roots if r not in dropped)


def _check_default(default: Sequence[Path]) -> None:
    for path in default:
        if not path.exists():
            raise ConfigError(
                f"The corpus {path} does not exist. Give a path (`articlebot index PATH`) "
                "or set ARTICLEBOT_CORPUS."
            )


def under_any(path: str, roots: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``roots`` or inside one."""
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)
