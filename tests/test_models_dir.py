"""ARTICLEBOT_MODELS_DIR: the ONNX exports can live outside the index folder (the container
image bakes them in at build time while INDEX_DIR is a volume)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from index.settings import Settings

from .helpers import REPO, cli


def test_models_dir_defaults_to_index_dir_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTICLEBOT_MODELS_DIR", "")
    settings = Settings(_env_file=None, index_dir=Path("/x/idx"))  # type: ignore[call-arg]
    assert settings.model_cache_dir == Path("/x/idx/models")
    monkeypatch.setenv("ARTICLEBOT_MODELS_DIR", "/opt/models")
    settings = Settings(_env_file=None, index_dir=Path("/x/idx"))  # type: ignore[call-arg]
    assert settings.model_cache_dir == Path("/opt/models")


@pytest.mark.slow
def test_index_and_ask_use_the_exports_in_models_dir(tmp_path: Path, exported_models: Path) -> None:
    models = tmp_path / "baked"
    shutil.copytree(exported_models, models, copy_function=os.link)
    before = sorted(p.name for p in models.iterdir())
    env = {"ARTICLEBOT_MODELS_DIR": str(models)}
    assert cli(tmp_path, "index", str(REPO / "corpus"), **env).returncode == 0
    answer = cli(
        tmp_path, "ask", "Who is trying to mend relations between Turkey and Israel?", **env
    )
    assert answer.returncode == 0, answer.stderr
    assert "Aliyev" in answer.stdout
    # Nothing was exported again, neither beside the index nor into MODELS_DIR.
    assert not (tmp_path / "idx" / "models").exists()
    assert sorted(p.name for p in models.iterdir()) == before
