"""A full disk mid-run: one clear message, exit 2, finished batches kept, and the same command resumes.

Uses a real tmpfs mount (the suite runs as root in CI, as on the project's machines).
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from tests._project import make_detection_project


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True, text=True)
    assert done.returncode == 0, f"this test needs root to mount a tmpfs: {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_one_message_and_resumable(tmp_path: Path, small_disk: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=40)
    spec.write_text(spec.read_text().replace("batch_size: 5", "batch_size: 2"))
    out = small_disk / "run"
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "full" in result.output and str(out) in result.output
    with sqlite3.connect(out / "results.sqlite") as con:
        kept = con.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    assert kept >= 1
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"resumed: {kept} batches" in result.output
    assert (out / "report.pdf").stat().st_size > 0
