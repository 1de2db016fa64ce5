"""Chunk the queued articles, embed their passages and quotable sentences (each distinct
text once), and hand them to the writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..chunking import chunk_article
from ..embedding import Embedder, embedder_backend
from ..progress import Progress
from ..sentences import quote_spans
from ..settings import Settings
from ..stores.base import IndexWriter, check_compatible
from ..types import Article, Passage
from .report import IndexReport

if TYPE_CHECKING:
    import numpy as np

EMBED_GROUP = 256  # passages per embed() call: small enough for a lively progress bar

Spans = list[list[tuple[int, int]]]  # per passage of an article, its sentences' spans


@dataclass(frozen=True)
class Embedded:
    vectors: np.ndarray  # one row per text
    distinct: int  # texts embedded now (the others were reused or repeated)


def embed_and_store(
    writer: IndexWriter,
    embedder: Embedder,
    settings: Settings,
    pending: list[tuple[Article, str]],
    reusable: dict[str, bytes],
    progress: Progress,
    report: IndexReport,
) -> None:
    """Add the ``pending`` articles (article, file or page) to the writer with their
    passage and sentence vectors; ``reusable``: vectors by text, embedded before."""
    if not pending:
        return
    if manifest := writer.manifest():  # empty for a new index
        check_compatible(
            manifest, embedder.name, embedder.dimension, backend=embedder_backend(embedder)
        )
    chunked = _chunk(pending, embedder, settings, progress)
    texts = [p.text for passages in chunked for p in passages]
    vectors = embed_new(embedder, texts, reusable, progress, "embedding passages")
    report.embedded += vectors.distinct
    # Every quotable sentence gets its own vector too: answers rank sentences by their
    # cosine to the question.
    spans = [
        [quote_spans(article.text, p.start, p.end) for p in passages]
        for (article, _file), passages in zip(pending, chunked, strict=True)
    ]
    sentence_texts = [
        article.text[a:b]
        for (article, _file), article_spans in zip(pending, spans, strict=True)
        for passage_spans in article_spans
        for a, b in passage_spans
    ]
    # A one-sentence passage was just embedded as a passage: reuse that vector.
    known = {**reusable, **{t: v.tobytes() for t, v in zip(texts, vectors.vectors, strict=True)}}
    sentence_vectors = embed_new(embedder, sentence_texts, known, progress, "embedding sentences")
    report.embedded_sentences += sentence_vectors.distinct
    _store(writer, pending, chunked, spans, vectors, sentence_vectors)


def _chunk(
    pending: list[tuple[Article, str]], embedder: Embedder, settings: Settings, progress: Progress
) -> list[list[Passage]]:
    progress.start("chunking", len(pending))
    chunked: list[list[Passage]] = []
    for article, _file in pending:
        chunked.append(
            chunk_article(
                article, embedder.count_tokens, settings.chunk_tokens, embedder.max_tokens
            )
        )
        progress.advance()
    return chunked


def _store(
    writer: IndexWriter,
    pending: list[tuple[Article, str]],
    chunked: list[list[Passage]],
    spans: list[Spans],
    vectors: Embedded,
    sentence_vectors: Embedded,
) -> None:
    """Hand each article to the writer with its rows of passage and sentence vectors."""
    offset = sentence_offset = 0
    for (article, file), passages, article_spans in zip(pending, chunked, spans, strict=True):
        sentences = []
        for passage_spans in article_spans:
            end = sentence_offset + len(passage_spans)
            sentences.append((passage_spans, sentence_vectors.vectors[sentence_offset:end]))
            sentence_offset = end
        passage_vectors = vectors.vectors[offset : offset + len(passages)]
        writer.add_article(article, file, passages, passage_vectors, sentences)
        offset += len(passages)
    assert offset == len(vectors.vectors) and sentence_offset == len(sentence_vectors.vectors)


def embed_new(
    embedder: Embedder,
    texts: list[str],
    reusable: dict[str, bytes],
    progress: Progress,
    stage: str,
) -> Embedded:
    """Vectors for ``texts``: reused where the same text was embedded before, else embedded
    once per distinct text (news archives repeat stories) in length-sorted groups (similar
    lengths batch with little padding)."""
    import numpy as np

    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    rows_of: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        if text in reusable:
            out[i] = np.frombuffer(reusable[text], dtype=np.float32)
        else:
            rows_of.setdefault(text, []).append(i)
    todo = sorted(rows_of, key=len, reverse=True)
    progress.start(stage, len(todo))
    for g in range(0, len(todo), EMBED_GROUP):
        group = todo[g : g + EMBED_GROUP]
        vectors = embedder.embed(group)
        for text, vector in zip(group, vectors, strict=True):
            out[rows_of[text]] = vector
        progress.advance(len(group))
    return Embedded(out, len(todo))
