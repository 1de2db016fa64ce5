"""Settings come from the environment and .env, and .env.example documents every one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from index.settings import Settings

from .helpers import REPO


def test_env_example_documents_every_setting() -> None:
    text = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^(ARTICLEBOT_[A-Z_]+)=", text, re.M))
    expected = {f"ARTICLEBOT_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_env_example_defaults_match_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (REPO / ".env.example").read_text()
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    from_file = Settings(_env_file=REPO / ".env.example")  # type: ignore[call-arg]
    assert from_file.model_dump(exclude={"discord_token"}) == defaults.model_dump(
        exclude={"discord_token"}
    )
    assert "ARTICLEBOT_DISCORD_TOKEN=\n" in text


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ARTICLEBOT_BATCH_SIZE=8\nARTICLEBOT_CORPUS=a, b\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTICLEBOT_CHUNK_TOKENS", "99")
    s = Settings()
    assert (s.batch_size, s.chunk_tokens, s.corpus) == (8, 99, [Path("a"), Path("b")])
    monkeypatch.setenv("ARTICLEBOT_DISCORD_TOKEN", "secret-token")
    assert "secret-token" not in repr(Settings())


def test_abstention_threshold_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    def threshold(**values: object) -> float:
        return Settings(_env_file=None, **values).abstain_threshold  # type: ignore[call-arg]

    assert threshold(backend="torch") == threshold(backend="onnx-int8") == 0.5
    assert threshold(backend="onnx-int8", abstain_below=0.3) == 0.3
    monkeypatch.setenv("ARTICLEBOT_ABSTAIN_BELOW", "")
    assert Settings(_env_file=None).abstain_below is None  # type: ignore[call-arg]
    monkeypatch.setenv("ARTICLEBOT_ABSTAIN_BELOW", "0.6")
    assert Settings(_env_file=None).abstain_threshold == 0.6  # type: ignore[call-arg]


def test_ann_threshold_empty_means_the_stores_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTICLEBOT_ANN_THRESHOLD", "")
    assert Settings(_env_file=None).ann_threshold is None  # type: ignore[call-arg]
    monkeypatch.setenv("ARTICLEBOT_ANN_THRESHOLD", "5000")
    assert Settings(_env_file=None).ann_threshold == 5000  # type: ignore[call-arg]
    monkeypatch.setenv("ARTICLEBOT_ANN_THRESHOLD", "0")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Settings(_env_file=None)  # type: ignore[call-arg]
