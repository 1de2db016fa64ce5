"""SIGKILL a real `articlebot index` subprocess mid-run: the previous index must survive intact
and the next run must finish the job."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.stores.local.snapshot import Snapshot

from .helpers import BBC, check_consistent, seed_models

pytestmark = pytest.mark.slow


def bbc_files(n: int, offset: int = 0) -> list[Path]:
    return sorted((BBC / "business").glob("*.txt"))[offset : offset + n]


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "index", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def start_and_kill(env: dict[str, str], marker: str, delay: float) -> str:
    """Start an index run, SIGKILL it ``delay`` s after ``marker`` shows up on stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "index", "index"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 300
    for line in proc.stderr:
        seen.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    return "".join(seen)


@pytest.mark.skipif(not BBC.exists(), reason="shared BBC data not present")
def test_sigkill_mid_run_keeps_previous_index_and_next_run_finishes(
    tmp_path: Path, exported_models: Path
) -> None:
    seed_models(tmp_path / "idx", exported_models)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in bbc_files(30):
        shutil.copy(path, corpus / path.name)
    env = {
        **os.environ,
        "ARTICLEBOT_INDEX_DIR": str(tmp_path / "idx"),
        "ARTICLEBOT_CORPUS": str(corpus),
    }
    first = run_cli(env, "index")
    assert first.returncode == 0, first.stderr
    settings_dir = tmp_path / "idx"
    before = Snapshot.open(settings_dir).manifest

    for path in bbc_files(120, offset=30):  # enough new work to be killed in the middle of
        shutil.copy(path, corpus / path.name)
    (corpus / sorted(p.name for p in corpus.iterdir())[0]).unlink()  # and one removal

    for marker, delay in [
        ("embedding passages: 0/", 1.0),
        ("embedding sentences: 0/", 1.0),
        ("chunking", 0.0),
    ]:
        log = start_and_kill(env, marker, delay)
        assert list(settings_dir.glob("gen-*.tmp-*")), f"killed before any work started:\n{log}"
        after = Snapshot.open(settings_dir)
        assert after.manifest == before, "a killed run changed the published index"
        check_consistent(_Settings(settings_dir))

    final = run_cli(env, "index", "--json")
    assert final.returncode == 0, final.stderr
    assert '"added": 120' in final.stdout and '"removed": 1' in final.stdout
    assert not list(settings_dir.glob("gen-*.tmp-*"))
    snap = check_consistent(_Settings(settings_dir))
    assert snap.manifest["articles"] == 149
    assert snap.generation == before["generation"] + 1


class _Settings:
    """The one attribute ``check_consistent`` reads."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
