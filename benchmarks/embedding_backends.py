"""Indexing throughput and start-up per embedding backend (torch, onnx, onnx-int8).

    python benchmarks/embedding_backends.py                # all of BBC News (2,225 articles)
    python benchmarks/embedding_backends.py --limit 300    # a quick run

Measured in one run:

* baseline (the issue's definition): plain ``SentenceTransformer(path).encode(batch_size=32)``
  on the articles' paragraphs (their text split at blank lines), encoding only;
* each backend through our embedder, as ``run_index`` calls it, on the passages the
  indexer cuts (chunk_tokens 160): passages/s, and mean / min cosine to plain torch
  vectors of a sample of those passages;
* the whole ``articlebot index`` command per backend in a subprocess (fresh index, the
  ONNX export already cached, as on every run after the first) and the ratio of the
  baseline's encode time to it (target >= 3x); the one-time export is timed apart;
* a fresh process that opens a Retriever and answers one question: seconds to the first
  answer (interpreter start included), peak RSS (VmHWM) and whether torch was imported.

Work files go to /tmp/articlebot-bench/backends.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.corpus import BBC, WORK

BACKENDS = ("torch", "onnx", "onnx-int8")
QUESTION = "How much did Time Warner's quarterly profits rise?"

_FIRST_ANSWER = """
import json, re, sys, time
from pathlib import Path
from index.answering import answer
from index.retrieval import Retriever
from index.settings import Settings

settings = Settings(_env_file=None, index_dir=Path(sys.argv[1]), backend=sys.argv[2],
                    device="cpu")
retriever = Retriever(settings)
ans = answer(retriever, sys.argv[3])
first = time.time() - float(sys.argv[4])  # since the parent started this process
t = time.perf_counter()
for _ in range(20):
    answer(retriever, sys.argv[3])
print(json.dumps({
    "first_answer_s": first,
    "warm_answer_ms": (time.perf_counter() - t) / 20 * 1000,
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork+exec.
    "maxrss_mb": int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024,
    "rss_mb": int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read())[1]) / 1024,
    "torch": "torch" in sys.modules,
    "quotes": len(ans.quotes),
    "quote_texts": [q.text for q in ans.quotes],
}))
"""


def load_passages(files: list[Path], count_tokens: Any, max_tokens: int) -> list[str]:
    from index.chunking import chunk_article
    from index.readers import read_file

    texts: list[str] = []
    for path in files:
        for article in read_file(path, 2**26).articles:
            texts += [p.text for p in chunk_article(article, count_tokens, 160, max_tokens)]
    return texts


def load_paragraphs(files: list[Path]) -> list[str]:
    from index.readers import read_file

    texts: list[str] = []
    for path in files:
        for article in read_file(path, 2**26).articles:
            texts += [p.strip() for p in article.text.split("\n\n") if p.strip()]
    return texts


def corpus_files(limit: int | None) -> list[Path]:
    from index.readers import iter_article_files

    files = sorted(p for p, supported in iter_article_files(BBC) if supported)
    files = [p for p in files if p.name != "README.TXT" and p.parent != BBC]
    return files[:limit] if limit else files


def make_corpus(files: list[Path], out: Path) -> Path:
    """A folder of links to ``files`` (keeping BBC's topic folders) for the command."""
    shutil.rmtree(out, ignore_errors=True)
    for path in files:
        link = out / path.relative_to(BBC)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path)
    return out


def indexer_embed(embedder: Any, texts: list[str]) -> Any:
    """Embed as ``run_index`` does (its own function, so the same grouping and sorting)."""
    from index.indexing.embed import embed_new
    from index.progress import NoProgress

    return embed_new(embedder, texts, {}, NoProgress(), "embedding").vectors


def now() -> list[str]:
    return [repr(time.time())]


def run_json(args: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"{args[:4]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return elapsed, (json.loads(lines[-1]) if lines else {})


Row = tuple[str, float, int, float, float]  # label, seconds, texts, mean / min cosine


@dataclass(frozen=True)
class Texts:
    """What the backends embed: the indexer's passages, and the baseline's paragraphs."""

    passages: list[str]  # as chunked, repeats included
    distinct: list[str]  # what run_index embeds (it embeds a text once)
    paragraphs: list[str]
    tokens: tuple[int, int]  # paragraphs, distinct passages


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, help="only the first N articles (sorted paths)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--skip-command", action="store_true", help="no subprocess runs")
    parser.add_argument("--work", type=Path, default=WORK / "backends")
    return parser.parse_args()


def make_embedders(
    backends: list[str], cache: Path, batch_size: int
) -> tuple[dict[str, Any], dict[str, float]]:
    """One embedder per backend, and the seconds of the one-time ONNX exports (timed
    apart; every later run finds them in the cache)."""
    from index.embedding.onnx_runtime import OnnxEmbedder
    from index.embedding.torch_backend import SentenceTransformerEmbedder

    export_s: dict[str, float] = {}
    embedders: dict[str, Any] = {}
    for backend in backends:
        if backend == "torch":
            embedders[backend] = SentenceTransformerEmbedder(device="cpu", batch_size=batch_size)
            continue
        embedder = OnnxEmbedder(
            cache_root=cache, quantized=backend == "onnx-int8", batch_size=batch_size
        )
        fresh = not any(cache.glob(f"*-{backend}-*/model.onnx"))
        t = time.perf_counter()
        _ = embedder.model_path
        if fresh:
            export_s[backend] = time.perf_counter() - t
        embedders[backend] = embedder
    return embedders, export_s


def load_texts(files: list[Path], cache: Path) -> Texts:
    from index.embedding.onnx_runtime import OnnxEmbedder

    counter = OnnxEmbedder(cache_root=cache)
    t = time.perf_counter()
    passages = load_passages(files, counter.count_tokens, counter.max_tokens)
    chunk_s = time.perf_counter() - t
    print(f"{len(files)} articles -> {len(passages)} passages (read + chunk {chunk_s:.1f} s)")
    paragraphs = load_paragraphs(files)
    distinct = list(dict.fromkeys(passages))
    print(f"{len(distinct)} distinct passages")
    tokens = sum(counter.count_tokens(paragraphs)), sum(counter.count_tokens(distinct))
    print(f"{len(paragraphs)} paragraphs; tokens: paragraphs {tokens[0]:,}, passages {tokens[1]:,}")
    return Texts(passages, distinct, paragraphs, tokens)


def baseline(texts: Texts) -> tuple[float, Any, Any]:
    """Plain sentence-transformers, as a user of the library would call it: its encode
    seconds on the paragraphs, a sample of the distinct passages and their vectors."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from index.embedding.model_path import resolve_model_path

    paragraphs, distinct = texts.paragraphs, texts.distinct
    plain = SentenceTransformer(resolve_model_path(""), device="cpu")
    plain.encode(paragraphs[:32], batch_size=32)
    t = time.perf_counter()
    plain.encode(paragraphs, batch_size=32, normalize_embeddings=True)
    baseline_s = time.perf_counter() - t
    print(f"  baseline: {len(paragraphs) / baseline_s:.1f} paragraphs/s", flush=True)
    sample = np.random.default_rng(0).choice(len(distinct), min(len(distinct), 500), replace=False)
    reference = plain.encode(
        [distinct[i] for i in sample], batch_size=32, normalize_embeddings=True
    )
    return baseline_s, sample, reference


def embedding_rows(
    embedders: dict[str, Any], texts: Texts, sample: Any, reference: Any
) -> list[Row]:
    """Each backend through our embedder, as run_index calls it, with its cosine to torch."""
    import numpy as np

    rows: list[Row] = []
    for backend, embedder in embedders.items():
        indexer_embed(embedder, texts.passages[:64])  # load + warm up (not timed)
        t = time.perf_counter()
        vectors = indexer_embed(embedder, texts.distinct)
        seconds = time.perf_counter() - t
        cos = (np.asarray(vectors)[sample] * reference).sum(axis=1)
        label = f"{backend} (our embedder, as run_index)"
        rows.append((label, seconds, len(texts.distinct), cos.mean(), cos.min()))
        print(f"  {backend}: {len(texts.distinct) / seconds:.1f} passages/s", flush=True)
    return rows


def print_embedding_table(
    n_files: int,
    rows: list[Row],
    tokens: tuple[int, int],
    baseline_s: float,
    export_s: dict[str, float],
) -> None:
    print(f"\n### Embedding ({n_files} articles)\n")
    print("| embedder | texts | seconds | texts/s | tokens/s | baseline s ÷ s | cosine to torch |")
    print("|---|---|---|---|---|---|---|")
    for i, (label, seconds, count, mean, low) in enumerate(rows):
        print(
            f"| {label} | {count:,} | {seconds:.1f} | {count / seconds:.1f} | "
            f"{tokens[min(i, 1)] / seconds:,.0f} | {baseline_s / seconds:.2f}x | "
            f"{mean:.4f} / {low:.4f} |"
        )
    if export_s:
        print(
            "\nOne-time export (torch + sentence-transformers load, export, check): "
            + ", ".join(f"{b} {s:.1f} s" for b, s in export_s.items())
        )


def command_env(batch_size: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTICLEBOT_")}
    env["ARTICLEBOT_DEVICE"] = "cpu"
    env["ARTICLEBOT_BATCH_SIZE"] = str(batch_size)
    env["ARTICLEBOT_FOLLOW_EXTERNAL_LINKS"] = "true"  # the corpus is links into BBC's folder
    return env


def run_commands(
    backends: list[str], corpus: Path, work: Path, cache: Path, env: dict[str, str]
) -> list[tuple[str, float, dict[str, Any], dict[str, Any]]]:
    """The whole ``articlebot index`` command per backend (fresh index, the export made
    above, as a previous run leaves it), then a fresh process answering one question."""
    command_rows = []
    for backend in backends:
        index_dir = work / f"index-{backend}"
        shutil.rmtree(index_dir, ignore_errors=True)
        index_dir.mkdir(parents=True)
        if backend != "torch":
            (index_dir / "models").symlink_to(cache.resolve())
        paths = [str(index_dir), str(corpus)]
        seconds, report = run_json(
            [sys.executable, "-m", "index", "index", "--json", "--index-dir", *paths],
            {**env, "ARTICLEBOT_BACKEND": backend},
        )
        manifest = _manifest(index_dir)
        if manifest.get("backend", "torch") != backend:
            raise SystemExit(f"the index command embedded with {manifest.get('backend')}")
        _, first = run_json(
            [sys.executable, "-c", _FIRST_ANSWER, str(index_dir), backend, QUESTION, *now()],
            env,
        )
        command_rows.append((backend, seconds, report, first))
        print(f"  articlebot index ({backend}): {seconds:.1f} s", flush=True)
    return command_rows


def print_command_table(
    n_files: int,
    command_rows: list[tuple[str, float, dict[str, Any], dict[str, Any]]],
    baseline_s: float,
) -> None:
    print(f"\n### Whole `articlebot index` command ({n_files} articles, fresh index)\n")
    print("| backend | seconds | passages | baseline encode / command | target |")
    print("|---|---|---|---|---|")
    for backend, seconds, report, _ in command_rows:
        print(
            f"| {backend} | {seconds:.1f} | {report.get('passages')} | "
            f"{baseline_s / seconds:.2f}x | >= 3x |"
        )


def print_first_answers(answers: list[tuple[str, dict[str, Any]]]) -> None:
    print("\n### A fresh process: open the index, answer one question\n")
    print("| backend | seconds to first answer | warm answer ms | peak RSS MB | torch imported |")
    print("|---|---|---|---|---|")
    for backend, first in answers:
        print(
            f"| {backend} | {first['first_answer_s']:.2f} | {first['warm_answer_ms']:.1f} | "
            f"{first['maxrss_mb']:.0f} | {'yes' if first['torch'] else 'no'} |"
        )


def main() -> None:
    args = parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "models"
    print(f"load average at start: {os.getloadavg()}; cores: {os.cpu_count()}", flush=True)
    embedders, export_s = make_embedders(args.backends, cache, args.batch_size)
    files = corpus_files(args.limit)
    texts = load_texts(files, cache)
    baseline_s, sample, reference = baseline(texts)
    rows: list[Row] = [
        (
            "SentenceTransformer.encode(batch_size=32) on paragraphs (baseline)",
            baseline_s,
            len(texts.paragraphs),
            1.0,
            1.0,
        )
    ]
    rows += embedding_rows(embedders, texts, sample, reference)
    print_embedding_table(len(files), rows, texts.tokens, baseline_s, export_s)
    if args.skip_command:
        return

    env = command_env(args.batch_size)
    corpus = make_corpus(files, work / "corpus")
    command_rows = run_commands(args.backends, corpus, work, cache, env)
    print_command_table(len(files), command_rows, baseline_s)
    answers = [(backend, first) for backend, _, _, first in command_rows]
    if "torch" not in args.backends and "onnx" in args.backends:
        # torch queries an fp32 ONNX index (the same vectors): the RSS / start-up comparison
        # without the half-hour torch index build.
        onnx_index = str(work / "index-onnx")
        _, first = run_json(
            [sys.executable, "-c", _FIRST_ANSWER, onnx_index, "torch", QUESTION, *now()], env
        )
        answers.insert(0, ("torch (on the onnx index)", first))
    print_first_answers(answers)
    print(f"\nload average at end: {os.getloadavg()}")


def _manifest(index_dir: Path) -> dict[str, Any]:
    from index.stores.local.snapshot import Snapshot

    snapshot = Snapshot.open(index_dir)
    try:
        return dict(snapshot.manifest)
    finally:
        snapshot.close()


if __name__ == "__main__":
    main()
