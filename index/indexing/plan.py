"""What one run covers: the folders and files (roots) and the web sources, remembered
ones plus those asked for, minus those removed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import ConfigError, FetchError
from ..settings import Settings
from ..types import WebSource, WebState
from ..web.guard import check_url
from .report import Request


def plan_run(
    settings: Settings,
    request: Request,
    old_roots: list[str],
    old_web: WebState,
    remembered: tuple[list[str], list[str]],
    fresh: bool,
) -> tuple[list[WebSource], list[str]]:
    """The web sources and the roots of this run. ``fresh``: no index to start from;
    ``remembered``: the roots and URLs a rebuild starts again from."""
    remembered_roots, remembered_urls = remembered
    sources = plan_sources(
        list(old_web.sources.values()) or [WebSource(u) for u in remembered_urls],
        request.urls,
        request.remove_urls,
    )
    if fresh and (remembered_roots or remembered_urls):  # --rebuild
        roots = plan_roots(remembered_roots, request.paths, request.remove, [])
    else:
        # A new index of URLs only does not also take in the default corpus folder.
        default = settings.corpus if fresh and not sources else []
        roots = plan_roots(old_roots, request.paths, request.remove, default)
    return sources, roots


def plan_sources(
    old: Sequence[WebSource], urls: Sequence[str], remove: Sequence[str]
) -> list[WebSource]:
    """Remembered web sources, plus new URLs, minus removed ones (each checked: http(s)
    only, a host present)."""

    try:
        added = [check_url(u) for u in urls]
        dropped = {check_url(u) for u in remove}
    except FetchError as exc:
        raise ConfigError(f"{exc}. Give an http:// or https:// URL.") from None
    known = {s.url: s for s in old}
    unknown = dropped - set(known) - set(added)
    if unknown:
        raise ConfigError(
            f"{', '.join(sorted(unknown))} is not an indexed web source; "
            f"the web sources are: {', '.join(sorted(known)) or '(none)'}."
        )
    for url in added:
        known.setdefault(url, WebSource(url))
    return [known[u] for u in sorted(known) if u not in dropped]


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
