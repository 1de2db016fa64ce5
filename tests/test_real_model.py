"""The real bundled model: offline loading, dimension, and the token window of passages."""

from __future__ import annotations

import pytest

from index.chunking import chunk_article
from index.embedding.torch_backend import SentenceTransformerEmbedder
from index.readers import read_file
from index.types import Article

from .helpers import BBC

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(device="cpu")


def test_bundled_model_loads_offline_and_embeds(model: SentenceTransformerEmbedder) -> None:
    vectors = model.embed(["Turkey and Israel", "Turkey and Israel", "a recipe for pancakes"])
    assert vectors.shape == (3, 384) and model.dimension == 384
    assert abs(float(vectors[0] @ vectors[1]) - 1.0) < 1e-5
    assert float(vectors[0] @ vectors[2]) < 0.5
    assert model.max_tokens == 254


def test_no_passage_exceeds_the_window_with_the_real_tokenizer(
    model: SentenceTransformerEmbedder,
) -> None:
    tokenizer = model.model.tokenizer
    long_paragraph = " ".join(
        f"Sentence {i} mentions Erdoğan, Netanyahu and the 2010 Gaza flotilla incident."
        for i in range(200)
    )
    texts = [long_paragraph, "x" * 5000, "word " * 2000]
    if BBC.exists():
        files = sorted(BBC.rglob("*.txt"), key=lambda p: p.stat().st_size)[-5:]
        texts += [read_file(p, 2**24).articles[0].text for p in files]
    for text in texts:
        passages = chunk_article(Article("k", "t", text), model.count_tokens, 400, model.max_tokens)
        for p in passages:
            assert text[p.start : p.end] == p.text
            ids = tokenizer(p.text, truncation=False)["input_ids"]
            assert len(ids) <= 256, f"passage of {len(ids)} tokens would be truncated"
