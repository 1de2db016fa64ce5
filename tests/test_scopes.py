"""Scopes: each Discord server's web sources are its own. Pages served over real HTTP on
127.0.0.1, indexed by ``run_index`` for one scope or another, then searched with the
scopes a question in a server (or a DM) reads, on the local store and on PostgreSQL."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from index.cli import main
from index.errors import ConfigError
from index.indexing import IndexReport, run_index
from index.indexing.plan import plan_sources
from index.retrieval import Retriever
from index.settings import Settings
from index.stores import open_store
from index.types import SHARED, Filters, WebSource, reading_scopes

from . import pg_cluster as fixtures
from .helpers import ARTICLE_A, DATE_1, STORIES, HashEmbedder, page, rss, write
from .web_server import Site

pg_cluster, pg_url = fixtures.pg_cluster, fixtures.pg_url
A, B = "111111111111111111", "222222222222222222"


@pytest.fixture(params=["local", "postgres"])
def scoped(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings for a store holding a shared file and the web pages the tests add."""
    update: dict[str, object] = {"allow_private_urls": True, "fetch_delay": 0.0}
    if request.param == "postgres":
        update["database_url"] = SecretStr(request.getfixturevalue("pg_url"))
    write(settings.corpus[0] / "timewarner.txt", ARTICLE_A)
    return settings.model_copy(update=update)


@pytest.fixture
def pages(site: Site) -> dict[str, str]:
    """The stories as pages: dollar and yukos (time-warner is the shared file)."""
    for path, story in STORIES.items():
        site.route(path, page(story))
    return {"dollar": site.url("/news/dollar"), "yukos": site.url("/news/yukos")}


def index(settings: Settings, **kwargs: object) -> IndexReport:
    return run_index(settings, HashEmbedder(), **kwargs)  # type: ignore[arg-type]


def urls_found(settings: Settings, query: str, server: str | None) -> set[str]:
    retriever = Retriever(settings, HashEmbedder())
    try:
        hits = retriever.search(query, k=10, filters=Filters(scopes=reading_scopes(server)))
    finally:
        retriever.store.close()
    return {h.url or h.path or "" for h in hits}


def test_a_servers_source_is_read_there_and_nowhere_else(
    scoped: Settings, pages: dict[str, str]
) -> None:
    index(scoped)
    assert index(scoped, urls=[pages["yukos"]], scope=A).added == 1
    rosneft = "Rosneft bought the Yugansk unit"
    assert pages["yukos"] in urls_found(scoped, rosneft, A)
    assert pages["yukos"] not in urls_found(scoped, rosneft, B)
    assert pages["yukos"] not in urls_found(scoped, rosneft, None)  # a DM, the CLI
    for server in (A, B, None):  # the shared file is read everywhere
        assert any(u.endswith("timewarner.txt") for u in urls_found(scoped, "TimeWarner", server))


def test_views_list_and_count_by_scope(scoped: Settings, pages: dict[str, str]) -> None:
    index(scoped)
    index(scoped, urls=[pages["yukos"]], scope=A)
    index(scoped, urls=[pages["dollar"]], scope=B)
    store = open_store(scoped)
    view = store.open_view()
    try:
        total, rows = view.articles_page(0, 10, reading_scopes(A))
        assert total == 2 and {t for t, _ in rows} == {
            "Ad sales boost Time Warner profit",
            "Yukos unit buyer faces loan claim",
        }
        assert view.articles_page(0, 10, None)[0] == 3
        assert view.matching_articles("Dollar", 5, reading_scopes(A)) == []
        assert [t for t, _ in view.matching_articles("Dollar", 5, reading_scopes(B))] == [
            "Dollar gains on Greenspan speech"
        ]
        counts = view.scope_counts()
        assert {k: v[0] for k, v in counts.items()} == {SHARED: 1, A: 1, B: 1}
        assert all(passages >= 1 for _, passages in counts.values())
        assert view.web_state().sources[pages["yukos"]].scopes == {A}
    finally:
        view.close()
        store.close()


def test_one_url_two_servers_is_stored_once_and_removed_per_server(
    scoped: Settings, pages: dict[str, str]
) -> None:
    index(scoped)
    index(scoped, urls=[pages["yukos"]], scope=A)
    again = index(scoped, urls=[pages["yukos"]], scope=B)
    assert again.added == 0  # the same article, now B's too
    assert pages["yukos"] in urls_found(scoped, "Rosneft Yugansk", B)
    with pytest.raises(ConfigError, match="not a web source of this server"):
        index(scoped, remove_urls=[pages["dollar"]], scope=B)
    left = index(scoped, remove_urls=[pages["yukos"]], scope=A)
    assert left.removed == 0 and left.sources == [pages["yukos"]]
    assert pages["yukos"] not in urls_found(scoped, "Rosneft Yugansk", A)
    assert pages["yukos"] in urls_found(scoped, "Rosneft Yugansk", B)
    gone = index(scoped, remove_urls=[pages["yukos"]], scope=B)
    assert gone.removed == 1 and gone.sources == []


def test_a_server_cannot_remove_anothers_or_shared_sources(
    scoped: Settings, pages: dict[str, str]
) -> None:
    index(scoped, urls=[pages["dollar"]])  # the operator's: shared
    index(scoped, urls=[pages["yukos"]], scope=A)
    for url in pages.values():
        with pytest.raises(ConfigError, match="not a web source of this server"):
            index(scoped, remove_urls=[url], scope=B)
    assert pages["dollar"] in urls_found(scoped, "Greenspan dollar euro", B)
    assert pages["yukos"] in urls_found(scoped, "Rosneft Yugansk", A)


def test_a_rebuild_keeps_each_sources_scopes(scoped: Settings, pages: dict[str, str]) -> None:
    index(scoped, urls=[pages["yukos"]], scope=A)
    rebuilt = index(scoped, rebuild=True)
    assert rebuilt.added == 1 and rebuilt.sources == [pages["yukos"]]
    assert pages["yukos"] in urls_found(scoped, "Rosneft Yugansk", A)
    assert pages["yukos"] not in urls_found(scoped, "Rosneft Yugansk", B)


def test_plan_sources_caps_a_servers_sources_not_the_operators() -> None:
    old = [WebSource("https://a.example/1", scopes=frozenset({A}))]
    with pytest.raises(ConfigError, match="ARTICLEBOT_SERVER_MAX_SOURCES"):
        plan_sources(old, ["https://a.example/2"], [], A, max_sources=1)
    again = plan_sources(old, ["https://a.example/1"], [], A, max_sources=1)  # a re-sync
    assert [s.scopes for s in again] == [{A}]
    shared = plan_sources(old, ["https://a.example/2"], [], SHARED, max_sources=None)
    assert [s.scopes for s in shared] == [{A}, {SHARED}]
    swap = plan_sources(old, ["https://a.example/2"], ["https://a.example/1"], A, max_sources=1)
    assert [s.url for s in swap] == ["https://a.example/2"]
    with pytest.raises(ConfigError, match="a Discord server's own: add --server ID"):
        plan_sources(old, [], ["https://a.example/1"], SHARED)
    with pytest.raises(ConfigError) as refused:
        plan_sources(old, [], ["https://a.example/1"], B)
    assert "--server" not in str(refused.value)


def test_a_servers_feed_fetches_a_capped_number_of_pages_a_sync(
    settings: Settings, site: Site
) -> None:
    web = settings.model_copy(
        update={"allow_private_urls": True, "fetch_delay": 0.0, "server_max_pages": 2}
    )
    for path, story in STORIES.items():
        site.route(path, page(story))
    feed = site.route("/rss.xml", rss(site, [(p, DATE_1) for p in STORIES]))
    first = index(web, urls=[feed], scope=A)
    assert first.added == 2 and not first.failed
    [skip] = first.skipped_urls
    assert skip.url == feed and skip.reason.startswith("1 more listed page(s) wait")
    second = index(web, scope=A)
    assert second.added == 1 and second.skipped_urls == []
    shared = index(web.model_copy(update={"index_dir": web.index_dir.parent / "s"}), urls=[feed])
    assert shared.added == 3  # the operator's sources have no cap


def test_cli_acts_for_a_server(
    settings: Settings, pages: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    scoped = settings.model_copy(update={"allow_private_urls": True, "fetch_delay": 0.0})
    write(settings.corpus[0] / "timewarner.txt", ARTICLE_A)
    index(scoped)
    index(scoped, urls=[pages["yukos"]], scope=A)
    index(scoped, urls=[pages["dollar"]])
    capsys.readouterr()
    assert main(["stats", "--json", "--server", A, "--index-dir", str(scoped.index_dir)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert [s["url"] for s in stats["sources"]] == [pages["yukos"]]
    assert (stats["server_articles"], stats["server_readable_articles"]) == (1, 3)
    assert stats["scopes"][A]["articles"] == 1 and stats["scopes"][SHARED]["articles"] == 2
    folder = str(settings.corpus[0])
    assert main(["index", folder, "--server", A, "--index-dir", str(scoped.index_dir)]) == 2
    assert "--server takes web sources only" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["stats", "--server", "guild-1", "--index-dir", str(scoped.index_dir)])
    assert exit_.value.code == 2 and "is not a Discord server id" in capsys.readouterr().err
