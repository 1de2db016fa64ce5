"""Readers: every format, encodings, titles, captions, and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.errors import UnreadableFileError
from index.readers import iter_article_files, read_file

from .helpers import ARTICLE_A, BBC, REPO, write

MB = 2**20


def read_one(path: Path):
    result = read_file(path, 50 * MB)
    assert len(result.articles) == 1
    return result.articles[0]


def test_txt_headline_becomes_title_and_is_not_in_text(tmp_path: Path) -> None:
    article = read_one(write(tmp_path / "a.txt", ARTICLE_A))
    assert article.title == "Ad sales boost Time Warner profit"
    assert article.text.startswith("Quarterly profits at US media giant")
    assert "Ad sales boost" not in article.text
    assert article.path == str((tmp_path / "a.txt").resolve())


def test_txt_without_headline_uses_file_name(tmp_path: Path) -> None:
    body = "This first line is a whole sentence, not a headline.\nAnother line follows it."
    article = read_one(write(tmp_path / "city_council-notes.txt", body))
    assert article.title == "city council notes"
    assert article.text == body


def test_seed_article_caption_is_metadata_not_text_or_title() -> None:
    article = read_one(REPO / "corpus" / "aliyev-turkey-israel.md")
    assert article.title == "Azerbaijan's Aliyev tries to mend ties between Turkey and Israel"
    assert article.source == "Axios"
    assert article.caption == "Aliyev (L) with Erdoğan in 2018. Photo: Adem Altan/AFP via Getty"
    assert "Photo:" not in article.text
    assert article.text.startswith("Turkey and Israel both played key roles")


def test_caption_without_front_matter_is_not_the_title(tmp_path: Path) -> None:
    text = "Aliyev (L) with Erdoğan in 2018. Photo: Adem Altan/AFP via Getty\n" + ARTICLE_A
    article = read_one(write(tmp_path / "x.txt", text))
    assert article.caption is not None and "Photo:" in article.caption
    assert article.title == "Ad sales boost Time Warner profit"


def test_markdown_front_matter(tmp_path: Path) -> None:
    md = (
        "---\ntitle: A Title\nurl: https://example.com/a\ndate: 2021-03-04\n"
        "author: Jo Writer\nsource: Example News\n---\n\nBody line one.\n\n- a bullet\n"
    )
    article = read_one(write(tmp_path / "a.md", md))
    assert (article.title, article.url, article.date) == (
        "A Title",
        "https://example.com/a",
        "2021-03-04",
    )
    assert (article.author, article.source) == ("Jo Writer", "Example News")
    assert article.text == "Body line one.\n\n- a bullet"


def test_markdown_heading_title(tmp_path: Path) -> None:
    article = read_one(write(tmp_path / "a.md", "# The Heading\n\nSome text here."))
    assert article.title == "The Heading"
    assert article.text == "Some text here."


def test_html_main_text_and_metadata(tmp_path: Path) -> None:
    html = """<html><head><title>Site | Page</title>
    <meta property="og:title" content="Rates rise again">
    <meta name="author" content="Ann Reporter">
    <meta property="article:published_time" content="2022-05-06T10:00:00Z">
    <link rel="canonical" href="https://news.example.org/rates">
    <meta property="og:site_name" content="Example Org"></head>
    <body><nav>Home | World | Sport</nav><article><h1>Rates rise again</h1>
    <p>The central bank raised interest rates for the third time this year, citing inflation.</p>
    <p>Economists had expected the move after prices rose faster than wages for six months.</p>
    </article><footer>Copyright footer text</footer></body></html>"""
    article = read_one(write(tmp_path / "page.html", html))
    assert article.title == "Rates rise again"
    assert article.url == "https://news.example.org/rates"
    assert article.date == "2022-05-06"
    assert article.author == "Ann Reporter"
    assert "raised interest rates" in article.text
    assert "Copyright footer" not in article.text and "Home | World" not in article.text


def test_json_and_jsonl_records(tmp_path: Path) -> None:
    records = [
        {"title": "One", "text": "First body.", "url": "https://e.com/1", "date": "2020-01-02"},
        {"title": "Two", "body": "Second body.", "author": "Al"},
        {"title": "No text"},
    ]
    result = read_file(write(tmp_path / "a.json", json.dumps(records)), MB)
    assert [a.title for a in result.articles] == ["One", "Two"]
    assert result.articles[1].text == "Second body."
    assert result.problems == ["record 3: no text/body/content"]
    lines = json.dumps(records[0]) + "\n{not json\n" + json.dumps({"content": "Third."}) + "\n"
    result = read_file(write(tmp_path / "b.jsonl", lines), MB)
    assert [a.text for a in result.articles] == ["First body.", "Third."]
    assert result.problems and "line 2" in result.problems[0]
    assert len({a.id for a in result.articles}) == 2


def test_latin1_file_is_decoded(tmp_path: Path) -> None:
    text = "Café owner wins award\n\nThe café in Zürich, owned by José, won £5,000 on Sunday."
    article = read_one(write(tmp_path / "l.txt", text, encoding="latin-1"))
    assert "Zürich" in article.text and "£5,000" in article.text and "José" in article.text


@pytest.mark.skipif(not BBC.exists(), reason="shared BBC data not present")
def test_bbc_latin1_article() -> None:
    path = BBC / "sport" / "199.txt"
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    article = read_one(path)
    assert article.title and "\ufffd" not in article.text and "\ufffd" not in article.title


def test_nfc_normalisation(tmp_path: Path) -> None:
    decomposed = "Erdog\u0306an visits\n\nErdog\u0306an met officials in Ankara today."
    article = read_one(write(tmp_path / "n.txt", decomposed))
    assert "Erdoğan" in article.text and "\u0306" not in article.text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("bin.txt", b"\x00\x01\x02PNG\x00\x00", "binary"),
        ("empty.txt", b"   \n\n", "empty"),
        ("bad.json", b'{"title": "x", ', "malformed JSON"),
        ("bad.md", b"---\ntitle: [unclosed\n---\nbody", "front matter"),
        ("nothing.json", b'[{"title": "no body"}]', "no text"),
        ("empty.html", b"<html><body></body></html>", "HTML"),
    ],
)
def test_bad_files_raise_clear_errors(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError) as info:
        read_file(path, MB)
    assert reason.lower() in str(info.value).lower()
    assert str(path.resolve()) in str(info.value)


def test_huge_file_is_refused_with_the_setting_to_change(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", "word " * 1000)
    with pytest.raises(UnreadableFileError, match="ARTICLEBOT_MAX_FILE_MB"):
        read_file(path, 1000)


def test_walk_skips_hidden_and_flags_unsupported(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "x")
    write(tmp_path / "sub" / "b.md", "x")
    write(tmp_path / ".git" / "c.txt", "x")
    write(tmp_path / "sub" / ".hidden.txt", "x")
    write(tmp_path / "d.pdf", "x")
    found = {p.relative_to(tmp_path).as_posix(): ok for p, ok in iter_article_files(tmp_path)}
    assert found == {"a.txt": True, "sub/b.md": True, "d.pdf": False}
