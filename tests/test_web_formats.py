"""index.web.formats: recognising and parsing feeds, sitemaps, HTML and text pages."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from index.errors import UnreadablePageError
from index.web.formats.charset import decode_page
from index.web.formats.detect import sniff
from index.web.formats.feeds import Entry, Feed, entry_article, parse_feed
from index.web.formats.pages import discover_feeds, page_article, text_article
from index.web.formats.sitemaps import Sitemap, SitemapEntry, parse_sitemap

FEED_URL = "https://news.example.com/feeds/world.xml"

PARAGRAPHS = [
    "The city council voted on Tuesday to close the old harbour bridge to cars from "
    "January, ending months of argument over the crumbling 1930s structure.",
    "Engineers told councillors that the steel deck had lost a third of its strength "
    "since the last inspection, and that heavy lorries were the main cause.",
    "Cyclists and pedestrians will still be allowed to cross while a replacement is "
    "designed, the council said, though the bridge will shut entirely during repairs.",
    "Local traders, who had campaigned to keep the bridge open, said the decision "
    "would add twenty minutes to deliveries and cost them customers in the run-up to "
    "the holiday season.",
]
FULL_HTML = "".join(f"<p>{p}</p>\n" for p in PARAGRAPHS)

RSS_FULL = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"
     xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Example News – World</title>
  <link>https://news.example.com/world/</link>
  <description>The latest world news</description>
  <item>
    <title>Harbour bridge to close to cars</title>
    <link>https://news.example.com/world/harbour-bridge-closes</link>
    <guid isPermaLink="false">story-1001</guid>
    <pubDate>Tue, 12 Mar 2024 23:30:00 -0500</pubDate>
    <dc:creator>Priya Natarajan</dc:creator>
    <description>The council votes to shut the 1930s bridge to traffic.</description>
    <content:encoded><![CDATA[{FULL_HTML}<script>track('x')</script>]]></content:encoded>
  </item>
  <item>
    <title>Second item, same link</title>
    <link>https://news.example.com/world/harbour-bridge-closes</link>
    <description>A duplicate that must be dropped.</description>
  </item>
  <item>
    <title>An item without a link</title>
    <description>Nothing to fetch here.</description>
  </item>
</channel>
</rss>
""".encode()

RSS_SUMMARY = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<rss version="2.0">
<channel>
  <title>Caf\xe9 Society</title>
  <link>https://blog.example.org/</link>
  <item>
    <title>Our new espresso machine</title>
    <link>/2024/05/espresso</link>
    <pubDate>Wed, 01 May 2024 08:15:00 GMT</pubDate>
    <author>editor@blog.example.org (Marie Dupont)</author>
    <description>&lt;p&gt;We finally replaced the &lt;b&gt;old&lt;/b&gt; machine.&lt;/p&gt;</description>
  </item>
</channel>
</rss>
"""

ATOM = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://dev.example.net/blog/">
  <title type="text">Dev Notes</title>
  <id>tag:dev.example.net,2024:blog</id>
  <updated>2024-06-02T10:00:00Z</updated>
  <link rel="self" href="https://dev.example.net/blog/atom.xml"/>
  <entry>
    <title>Profiling a slow import</title>
    <link rel="alternate" type="text/html" href="posts/slow-import.html"/>
    <id>tag:dev.example.net,2024:slow-import</id>
    <published>2024-06-01T21:00:00-07:00</published>
    <updated>2024-06-02T10:00:00Z</updated>
    <author><name>Sam Okafor</name></author>
    <summary>Why importing our package took two seconds.</summary>
    <content type="html">{FULL_HTML.replace("&", "&amp;").replace("<", "&lt;")}</content>
  </entry>
  <entry>
    <title>Short note</title>
    <link href="/notes/short"/>
    <id>tag:dev.example.net,2024:short</id>
    <updated>2024-05-20T08:00:00Z</updated>
    <summary>A longer summary than the content that follows it, as teasers go.</summary>
    <content type="html">&lt;p&gt;Read more…&lt;/p&gt;</content>
  </entry>
</feed>
""".encode()

RDF = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
         xmlns="http://purl.org/rss/1.0/">
  <channel rdf:about="https://old.example.com/">
    <title>Old School</title>
    <link>https://old.example.com/</link>
    <description>An RSS 1.0 feed</description>
  </channel>
  <item rdf:about="https://old.example.com/a">
    <title>First</title>
    <link>https://old.example.com/a</link>
  </item>
</rdf:RDF>
"""

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url>
    <loc>https://shop.example.com/guides/choosing-a-tent</loc>
    <lastmod>2024-04-01T12:00:00+00:00</lastmod>
    <changefreq>monthly</changefreq>
  </url>
  <url><loc>  /guides/sleeping-bags  </loc></url>
  <url><loc>ftp://shop.example.com/catalogue.pdf</loc></url>
  <url><loc>javascript:alert(1)</loc></url>
  <url><loc>mailto:sales@shop.example.com</loc></url>
  <url><lastmod>2024-01-01</lastmod></url>
  <url><loc>https://shop.example.com/guides/choosing-a-tent</loc></url>
</urlset>
"""

SITEMAP_INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap>
    <loc>https://shop.example.com/sitemap-guides.xml</loc>
    <lastmod>2024-04-01</lastmod>
  </sitemap>
  <sitemap><loc>sitemap-products.xml.gz</loc></sitemap>
</sitemapindex>
"""

NEWS_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Harbour bridge to close to cars | Example News</title>
  <link rel="canonical" href="https://news.example.com/world/harbour-bridge-closes">
  <meta property="og:site_name" content="Example News">
  <meta name="author" content="Page Author Name">
  <meta property="article:published_time" content="2024-03-13T09:00:00Z">
  <link rel="alternate" type="application/rss+xml" title="World" href="/feeds/world.xml">
</head>
<body>
  <div id="cookie-banner" class="cookie-consent">
    <p>We use cookies to improve your experience. Accept all cookies or manage preferences.</p>
    <button>Accept all cookies</button>
  </div>
  <header class="site-header">
    <nav>
      <ul>
        <li><a href="/">Home</a></li><li><a href="/world/">World news section</a></li>
        <li><a href="/sport/">Sport section</a></li><li><a href="/weather/">Weather</a></li>
      </ul>
    </nav>
  </header>
  <main>
    <article>
      <h1>Harbour bridge to close to cars</h1>
      <p class="byline">By Page Author Name, 13 March 2024</p>
      {FULL_HTML}
    </article>
    <aside class="related">
      <h2>Related stories</h2>
      <ul>
        <li><a href="/world/ferry-strike">Ferry workers strike over pay cuts</a></li>
        <li><a href="/world/tram-line">New tram line opens next spring</a></li>
      </ul>
    </aside>
  </main>
  <footer class="site-footer">
    <p>Copyright 2024 Example News Group. All rights reserved.</p>
    <ul><li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use</a></li></ul>
  </footer>
</body>
</html>
"""

BOILERPLATE = [
    "cookies",
    "World news section",
    "Sport section",
    "Related stories",
    "Ferry workers strike",
    "New tram line",
    "All rights reserved",
    "Privacy policy",
]


def _entry(**overrides: object) -> Entry:
    values: dict[str, object] = {
        "link": "https://news.example.com/world/harbour-bridge-closes",
        "title": "Feed title",
        "published": "2024-03-12",
        "updated": "2024-03-13T04:30:00Z",
        "author": "Feed Author",
        "content": "\n".join(PARAGRAPHS),
        "summary": "The council votes to shut the bridge.",
    }
    values.update(overrides)
    return Entry(**values)  # type: ignore[arg-type]


# ---- sniff ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (RSS_FULL, "application/rss+xml", "feed"),
        (RSS_FULL, "text/html", "feed"),  # content beats a mislabelled type
        (ATOM, "application/xml", "feed"),
        (RDF, "text/xml", "feed"),
        (URLSET, "application/xml", "sitemap"),
        (SITEMAP_INDEX, "application/octet-stream", "sitemap"),
        (NEWS_PAGE.encode(), "text/html; charset=utf-8", "html"),
        (b"<html><body><p>Hi</p></body></html>", "", "html"),
        (b"<!-- served by nginx -->\n<!doctype html>\n<title>x</title>", "", "html"),
        (b"<div class='post'><p>A fragment</p></div>", "application/octet-stream", "html"),
        (b"Harbour bridge to close\n\nThe council voted...\n", "text/plain", "text"),
        (b"Harbour bridge to close\n\nThe council voted...\n", "", "text"),
        (b"<notes>unknown xml</notes>", "application/atom+xml", "feed"),
        (b"not even markup", "application/rss+xml", "feed"),  # type as the tiebreak
    ],
)
def test_sniff(body: bytes, content_type: str, kind: str) -> None:
    assert sniff(body, content_type, "https://example.com/x") == kind


def test_sniff_skips_bom_declaration_comments_and_doctype() -> None:
    body = (
        codecs.BOM_UTF8 + b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<?xml-stylesheet type="text/xsl" href="/sitemap.xsl"?>\n'
        b"<!-- generated by a plugin, 2024-04-01 -->\n"
        b"<!DOCTYPE something>\n"
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>'
    )
    assert sniff(body, "text/html", "https://example.com/sitemap.xml") == "sitemap"
    feed = (
        codecs.BOM_UTF8 + b"  \n<!-- a -->\n<!-- b -->\n<feed xmlns='http://www.w3.org/2005/Atom'>"
    )
    assert sniff(feed, "text/plain", "https://example.com/atom") == "feed"


def test_sniff_reads_utf16_and_only_the_start() -> None:
    # Bodies arrive decompressed (the fetcher removes every gzip layer): no gzip here.
    assert sniff(codecs.BOM_UTF16_LE + "<rss>".encode("utf-16-le"), "", "u") == "feed"
    assert sniff(b"\x1f\x8bnot gzip at all", "", "u") == "text"  # no exception
    late = b" " * 5000 + b"<rss version='2.0'></rss>"
    assert sniff(late, "text/plain", "u") == "text"  # past the first 4 KB: not looked at


# ---- parse_feed -----------------------------------------------------------------------


def test_rss_with_content_encoded_keeps_full_text_as_plain_text() -> None:
    feed = parse_feed(RSS_FULL, FEED_URL)
    assert feed.title == "Example News – World"
    assert len(feed.entries) == 1  # the duplicate link and the link-less item are dropped
    entry = feed.entries[0]
    assert entry.link == "https://news.example.com/world/harbour-bridge-closes"
    assert entry.title == "Harbour bridge to close to cars"
    assert entry.author == "Priya Natarajan"
    # The publisher's own calendar date, not UTC's (23:30 -0500 is the 13th in UTC).
    assert entry.published == "2024-03-12"
    assert entry.updated == "2024-03-13T04:30:00Z"
    assert entry.content == "\n".join(PARAGRAPHS)
    assert "<p>" not in entry.content and "track(" not in entry.content
    assert entry.summary == "The council votes to shut the 1930s bridge to traffic."


def test_rss_without_content_has_summary_only() -> None:
    feed = parse_feed(RSS_SUMMARY, "https://blog.example.org/feed/")
    assert feed.title == "Café Society"  # declared ISO-8859-1
    (entry,) = feed.entries
    assert entry.link == "https://blog.example.org/2024/05/espresso"  # relative resolved
    assert entry.content is None
    assert entry.summary == "We finally replaced the old machine."
    assert entry.published == "2024-05-01"
    assert entry.updated == "2024-05-01T08:15:00Z"
    assert entry.author == "Marie Dupont"  # not "editor@... (Marie Dupont)"


def test_atom_html_content_relative_links_and_dates() -> None:
    feed = parse_feed(ATOM, "https://dev.example.net/blog/atom.xml")
    assert feed.title == "Dev Notes"
    full, short = feed.entries
    assert full.link == "https://dev.example.net/blog/posts/slow-import.html"  # xml:base
    assert full.content == "\n".join(PARAGRAPHS)
    assert full.summary == "Why importing our package took two seconds."
    assert full.published == "2024-06-01"  # the local date of 21:00 -07:00
    assert full.updated == "2024-06-02T10:00:00Z"
    assert full.author == "Sam Okafor"
    assert short.link == "https://dev.example.net/notes/short"
    assert short.content is None  # a teaser shorter than its summary is not the article
    assert short.published == "2024-05-20"  # no <published>: <updated> stands in
    assert short.author is None


def test_short_full_text_counts_when_clearly_longer_than_the_summary() -> None:
    body = b"""<rss version="2.0"><channel><title>t</title><item><link>https://e.com/a</link>
    <description>Teaser.</description>
    <content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/"><![CDATA[
    <p>A short post, but the whole of it, and much longer than the teaser.</p>]]>
    </content:encoded></item></channel></rss>"""
    (entry,) = parse_feed(body, "https://e.com/feed").entries
    assert entry.content == "A short post, but the whole of it, and much longer than the teaser."


def test_rdf_feed() -> None:
    feed = parse_feed(RDF, "https://old.example.com/index.rdf")
    assert feed.title == "Old School"
    assert [e.link for e in feed.entries] == ["https://old.example.com/a"]
    assert feed.entries[0].published is None and feed.entries[0].updated is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\x00\x01\x02 definitely not xml",
        b"<html><head><title>Blog</title></head><body><p>Hello</p></body></html>",
        b"Just some text that happens to be served as a feed.",
    ],
)
def test_parse_feed_rejects_what_is_not_a_feed(body: bytes) -> None:
    with pytest.raises(UnreadablePageError) as info:
        parse_feed(body, FEED_URL)
    assert info.value.url == FEED_URL
    assert "not an RSS or Atom feed" in info.value.reason


def test_empty_but_valid_feed_is_a_feed() -> None:
    body = b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    assert parse_feed(body, FEED_URL) == Feed(title="Quiet", entries=[])


# ---- parse_sitemap --------------------------------------------------------------------


def test_urlset_pages_with_lastmod_http_only() -> None:
    sitemap = parse_sitemap(URLSET, "https://shop.example.com/sitemap.xml")
    assert sitemap == Sitemap(
        pages=[
            SitemapEntry(
                "https://shop.example.com/guides/choosing-a-tent", "2024-04-01T12:00:00+00:00"
            ),
            SitemapEntry("https://shop.example.com/guides/sleeping-bags", None),
        ],
        sitemaps=[],
    )


def test_sitemapindex_lists_child_sitemaps() -> None:
    sitemap = parse_sitemap(SITEMAP_INDEX, "https://shop.example.com/sitemap_index.xml")
    assert sitemap.pages == []
    assert sitemap.sitemaps == [
        SitemapEntry("https://shop.example.com/sitemap-guides.xml", "2024-04-01"),
        SitemapEntry("https://shop.example.com/sitemap-products.xml.gz", None),
    ]


def test_sitemap_without_namespace_or_with_a_prefix() -> None:
    plain = b"<urlset><url><loc>https://a.example/1</loc></url></urlset>"
    prefixed = (
        b'<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<sm:url><sm:loc>https://a.example/1</sm:loc></sm:url></sm:urlset>"
    )
    for body in (plain, prefixed):
        assert [p.loc for p in parse_sitemap(body, "https://a.example/s.xml").pages] == [
            "https://a.example/1"
        ]


def test_sitemap_xxe_does_not_read_local_files() -> None:
    body = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE urlset [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://evil.example/&xxe;</loc><lastmod>&xxe;</lastmod></url>
  <url><loc>&xxe;</loc></url>
  <url><loc>https://evil.example/&lol2;</loc></url>
</urlset>
"""
    sitemap = parse_sitemap(body, "https://evil.example/sitemap.xml")
    dumped = repr(sitemap)
    assert "root:" not in dumped and "/bin/" not in dumped and "lollol" not in dumped
    assert all(p.loc.startswith("https://evil.example/") for p in sitemap.pages)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "not a sitemap"),
        (b"\x00\x01garbage", "not a sitemap"),
        (b"<html><body><p>Not found</p></body></html>", "root element is <html>"),
        (RSS_FULL, "root element is <rss>"),
        (b"\x1f\x8b\x08\x00broken", "not a sitemap"),  # gzip is the fetcher's: here, bytes
    ],
)
def test_parse_sitemap_rejects_what_is_not_a_sitemap(body: bytes, why: str) -> None:
    with pytest.raises(UnreadablePageError) as info:
        parse_sitemap(body, "https://a.example/sitemap.xml")
    assert info.value.url == "https://a.example/sitemap.xml"
    assert why in info.value.reason


# ---- discover_feeds -------------------------------------------------------------------


def test_discover_feeds_from_link_tags() -> None:
    page = """<!DOCTYPE html><html><head>
    <link rel="stylesheet" href="/style.css">
    <link rel="alternate" type="application/rss+xml" title="All posts" href="/feed/">
    <link rel="alternate" type="application/atom+xml" href="https://blog.example.org/atom.xml">
    <link rel="alternate" type="application/rss+xml" title="Blog &raquo; Comments Feed"
          href="/comments/feed/">
    <link rel="alternate" hreflang="fr" href="/fr/">
    <link rel="Alternate" type="Application/RSS+XML" href="https://blog.example.org/feed/">
    </head><body><a href="/other/rss.xml">RSS</a></body></html>"""
    assert discover_feeds(page, "https://blog.example.org/2024/05/espresso") == [
        "https://blog.example.org/feed/",
        "https://blog.example.org/atom.xml",
    ]


def test_discover_feeds_respects_base_and_falls_back_to_anchors() -> None:
    page = """<html><head><base href="https://cdn.example.com/site/"></head><body>
    <a href="about.html">About</a> <a href="rss.xml">RSS</a> <a href="/feed">Feed</a>
    <a href="rss.xml">RSS again</a></body></html>"""
    assert discover_feeds(page, "https://example.com/") == [
        "https://cdn.example.com/site/rss.xml",
        "https://cdn.example.com/feed",
    ]


def test_discover_feeds_on_a_page_without_any() -> None:
    assert discover_feeds("<html><body><p>Hi</p></body></html>", "https://e.com/") == []
    assert discover_feeds("", "https://e.com/") == []
    assert discover_feeds('<?xml version="1.0" encoding="utf-8"?><html/>', "https://e.com/") == []


# ---- decode_page ----------------------------------------------------------------------

RUSSIAN = "Мэрия закрывает старый мост для машин с января."
FRENCH = "Le café «Chez Zoé» ferme ses portes après 40 ans – quel dommage!"


def test_decode_page_header_charset_wins() -> None:
    body = f"<html><body><p>{RUSSIAN}</p></body></html>".encode("windows-1251")
    assert RUSSIAN in decode_page(body, "windows-1251", "https://ru.example/a")
    assert RUSSIAN in decode_page(body, '"cp1251"', "https://ru.example/a")
    # A meta tag that disagrees loses to the header.
    lying = b'<meta charset="utf-16">' + body
    assert RUSSIAN in decode_page(lying, "windows-1251", "https://ru.example/a")


def test_decode_page_meta_charset_when_no_header() -> None:
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        f"</head><body><p>{FRENCH}</p></body></html>"
    )
    body = page.encode("cp1252")  # "–" is not in Latin-1: pages so labelled are 1252
    assert FRENCH in decode_page(body, None, "https://fr.example/a")
    html5 = f'<meta charset="windows-1251"><p>{RUSSIAN}</p>'.encode("cp1251")
    assert RUSSIAN in decode_page(html5, None, "https://ru.example/b")
    xml = f'<?xml version="1.0" encoding="windows-1251"?><html><p>{RUSSIAN}</p></html>'
    assert RUSSIAN in decode_page(xml.encode("cp1251"), "", "https://ru.example/c")


def test_decode_page_utf8_without_declaration_and_bad_labels() -> None:
    body = f"<html><body><p>{FRENCH} {RUSSIAN}</p></body></html>".encode()
    assert FRENCH in decode_page(body, None, "https://e.com/a")
    assert RUSSIAN in decode_page(body, "no-such-charset", "https://e.com/a")
    assert RUSSIAN in decode_page(body, "base64", "https://e.com/a")  # a codec, not text
    # UTF-8 sent as "ISO-8859-1" (a common server default) is still UTF-8.
    assert RUSSIAN in decode_page(body, "ISO-8859-1", "https://e.com/a")
    # A header that the body does not decode in gives way to what the body says.
    latin = f'<meta charset="windows-1252"><p>{FRENCH}</p>'.encode("cp1252")
    assert FRENCH in decode_page(latin, "utf-8", "https://e.com/b")


def test_decode_page_bom_and_binary() -> None:
    body = codecs.BOM_UTF8 + f"<p>{FRENCH}</p>".encode()
    assert decode_page(body, "windows-1251", "https://e.com/a") == f"<p>{FRENCH}</p>"
    utf16 = codecs.BOM_UTF16_LE + f"<p>{RUSSIAN}</p>".encode("utf-16-le")
    assert decode_page(utf16, None, "https://e.com/a") == f"<p>{RUSSIAN}</p>"
    with pytest.raises(UnreadablePageError) as info:
        decode_page(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", None, "https://e.com/p.png")
    assert info.value.url == "https://e.com/p.png"
    assert "binary" in info.value.reason


# ---- page_article ---------------------------------------------------------------------

LISTED = "https://news.example.com/world/harbour-bridge-closes?utm_source=rss"


def test_page_article_keeps_the_story_and_drops_the_boilerplate() -> None:
    article = page_article(NEWS_PAGE, LISTED)
    for paragraph in PARAGRAPHS:
        assert paragraph in article.text
    for junk in BOILERPLATE:
        assert junk not in article.text, junk
    assert "<p>" not in article.text


def test_page_article_uses_page_metadata_without_an_entry() -> None:
    article = page_article(NEWS_PAGE, LISTED)
    assert article.key == LISTED  # the URL it was listed under, whatever the page says
    assert article.url == "https://news.example.com/world/harbour-bridge-closes"  # canonical
    assert article.path is None
    assert article.title.startswith("Harbour bridge to close to cars")
    assert article.date == "2024-03-13"
    assert article.author == "Page Author Name"
    assert article.source == "Example News"


def test_page_article_entry_metadata_wins() -> None:
    article = page_article(NEWS_PAGE, LISTED, entry=_entry())
    assert (article.title, article.date, article.author) == (
        "Feed title",
        "2024-03-12",
        "Feed Author",
    )
    assert article.text == page_article(NEWS_PAGE, LISTED).text  # the page's text, not the feed's
    # Fields the entry lacks fall back to the page's.
    partial = page_article(NEWS_PAGE, LISTED, entry=_entry(title=None, published=None, author=None))
    assert partial.date == "2024-03-13" and partial.author == "Page Author Name"
    assert partial.title.startswith("Harbour bridge")


def test_page_article_ignores_a_canonical_on_another_site() -> None:
    copied = NEWS_PAGE.replace(
        "https://news.example.com/world/harbour-bridge-closes", "https://elsewhere.example/x"
    )
    mirror = "https://mirror.example.org/harbour"
    article = page_article(copied, mirror)
    assert article.key == mirror and article.url == mirror
    www = NEWS_PAGE.replace("https://news.example.com/", "https://www.news.example.com/")
    assert (
        page_article(www, LISTED).url == "https://www.news.example.com/world/harbour-bridge-closes"
    )


def test_page_article_without_metadata_falls_back_to_the_url() -> None:
    page = "<html><body><article>" + FULL_HTML + "</article></body></html>"
    article = page_article(page, "https://plain.example/story")
    assert article.key == article.url == "https://plain.example/story"
    assert article.title  # never empty
    assert PARAGRAPHS[0] in article.text


@pytest.mark.parametrize(
    "page",
    [
        "",
        "<html><body></body></html>",
        "<html><head><title>Loading</title></head><body><script>boot()</script></body></html>",
    ],
)
def test_page_article_without_main_text(page: str) -> None:
    with pytest.raises(UnreadablePageError) as info:
        page_article(page, "https://e.com/empty")
    assert info.value.url == "https://e.com/empty"
    assert "no main text" in info.value.reason or "cannot parse HTML" in info.value.reason


# ---- entry_article and text_article ---------------------------------------------------


def test_entry_article_from_full_text() -> None:
    entry = _entry(link="https://news.example.com/world/harbour-bridge-closes?ref=final")
    article = entry_article(entry, LISTED)
    assert article.key == LISTED
    assert article.url == "https://news.example.com/world/harbour-bridge-closes?ref=final"
    assert article.text == "\n".join(PARAGRAPHS)
    assert (article.title, article.date, article.author) == (
        "Feed title",
        "2024-03-12",
        "Feed Author",
    )
    assert entry_article(_entry(title=None), LISTED).title == LISTED


def test_entry_article_needs_content() -> None:
    with pytest.raises(UnreadablePageError) as info:
        entry_article(_entry(content=None), LISTED)
    assert info.value.url == LISTED


def test_entry_article_from_a_parsed_feed() -> None:
    (entry,) = parse_feed(RSS_FULL, FEED_URL).entries
    article = entry_article(entry, entry.link)
    assert article.text == "\n".join(PARAGRAPHS)
    assert article.title == "Harbour bridge to close to cars"


def test_text_article_headline_becomes_title() -> None:
    text = (
        "\r\nHarbour bridge to close to cars\r\n\r\n"
        "The city council voted on Tuesday to close the old harbour bridge.\r\n"
        "Engineers said the deck had lost a third of its strength.   \r\n"
    )
    url = "https://files.example.com/stories/bridge.txt"
    article = text_article(text, url)
    assert article.key == article.url == url
    assert article.path is None
    assert article.title == "Harbour bridge to close to cars"
    assert article.text == (
        "The city council voted on Tuesday to close the old harbour bridge.\n"
        "Engineers said the deck had lost a third of its strength."
    )


def test_text_article_title_falls_back_to_the_url() -> None:
    body = "The council voted on Tuesday to close the bridge to cars.\nMore text follows here."
    assert text_article(body, "https://e.com/notes/harbour-bridge.txt").title == "harbour bridge"
    assert text_article(body, "https://e.com/").title == "e.com"


def test_text_article_front_matter_and_empty() -> None:
    body = "---\ntitle: From front matter\ndate: 2024-02-01\nauthor: Ann\n---\nBody text here.\n"
    article = text_article(body, "https://e.com/raw/post.md")
    assert (article.title, article.date, article.author) == (
        "From front matter",
        "2024-02-01",
        "Ann",
    )
    assert article.text == "Body text here."
    with pytest.raises(UnreadablePageError) as info:
        text_article(" \n\n ", "https://e.com/empty.txt")
    assert info.value.url == "https://e.com/empty.txt"


# --- hostile bodies: a format function returns a value or raises UnreadablePageError ------------

HOSTILE = [
    b"\x00",
    b"&nbsp;&#xFFFFFFFF;&#0;&bogus",
    b'<!DOCTYPE x [<!ENTITY a "&a;&a;">]>&a;',
    b"<a href='" + b"x" * 100_000 + b"'>",
    b"<div>" * 3000,
    b"<url><loc>http://[::1</loc></url><sitemap><loc>http://a:x/</loc></sitemap>",
    b"<item><link>http://[::1</link></item><entry><link href='http://a:99999/'/></entry>",
    b'<link rel="alternate" type="application/rss+xml" href="http://a:x/">',
    b"<item><link>http://e.com/a</link><pubDate>Mon, 10 Jan 20000000000000000000 09:00:00 GMT"
    b"</pubDate></item>",
    b"<entry><link href='http://e.com/b'/><updated>0000-00-00T00:00:00Z</updated></entry>",
    b'<meta charset="utf-16"><meta property="article:published_time" content="99999-99-99">',
    b'<?xml version="1.0" encoding="x-unknown"?>',
    "\u00e9\u20ac".encode("utf-16"),
]
REAL_BODIES = [RSS_FULL, RSS_SUMMARY, ATOM, RDF, URLSET, SITEMAP_INDEX, NEWS_PAGE.encode()]


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    """A real feed, sitemap or page cut, spliced with hostile bytes, or plain noise."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=2000))
    body = draw(st.sampled_from(REAL_BODIES))
    tags = [i for i, byte in enumerate(body) if byte == ord("<")]  # where elements go
    at = draw(st.sampled_from(tags) | st.integers(0, len(body)))
    insert = draw(st.sampled_from(HOSTILE) | st.binary(max_size=50))
    end = draw(st.sampled_from([len(body), at + draw(st.integers(0, 200))]))
    return body[:at] + insert + body[end:]


def _spliced(body: bytes, closing: bytes, insert: bytes) -> bytes:
    at = body.rindex(closing)
    return body[:at] + insert + body[at:]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(body=_spliced(URLSET, b"</urlset>", HOSTILE[5]), charset=None)
@example(body=_spliced(SITEMAP_INDEX, b"</sitemapindex>", HOSTILE[5]), charset=None)
@example(body=_spliced(RSS_FULL, b"</channel>", HOSTILE[6]), charset=None)
@example(body=_spliced(RSS_FULL, b"</channel>", HOSTILE[8]), charset=None)
@example(body=_spliced(ATOM, b"</feed>", HOSTILE[9]), charset=None)
@example(body=_spliced(NEWS_PAGE.encode(), b"</head>", HOSTILE[7]), charset="utf-8")
@given(body=hostile_bodies(), charset=st.sampled_from([None, "utf-8", "latin-1", "utf-16", "x"]))
def test_format_functions_raise_only_unreadable_page_error(
    body: bytes, charset: str | None
) -> None:
    url = "https://news.example.com/feeds/world.xml"
    for parse in (parse_feed, parse_sitemap):
        try:
            parse(body, url)
        except UnreadablePageError as exc:
            assert "\n" not in exc.reason
    try:
        html = decode_page(body, charset, url)
    except UnreadablePageError:
        return
    assert isinstance(discover_feeds(html, url), list)
    try:
        page_article(html, url)
    except UnreadablePageError as exc:
        assert "\n" not in exc.reason
