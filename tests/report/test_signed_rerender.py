"""A signed report.pdf is never silently replaced; report files are written whole or not at all; keygen keeps keys."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.errors import ReportError
from fieldready.report import render_report
from fieldready.report.sign import is_signed
from tests._project import make_detection_project
from tests.report.conftest import make_detection_results


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    """(spec, run dir, key, cert) of a finished run whose report.pdf is signed."""
    root = tmp_path_factory.mktemp("signed")
    result = CliRunner().invoke(cli, ["keygen", "-o", str(root / "keys")])
    assert result.exit_code == 0, result.output
    key, cert = root / "keys" / "signer.key.pem", root / "keys" / "signer.cert.pem"
    spec = make_detection_project(root / "p", n_images=3)
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(root / "run"), "--quiet",
                                      "--sign-key", str(key), "--sign-cert", str(cert)])
    assert result.exit_code == 0, result.output
    return spec, root / "run", key, cert


def _copy(run: Path, tmp_path: Path) -> Path:
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


def _verify(pdf: Path, cert: Path) -> int:
    return CliRunner().invoke(cli, ["verify", str(pdf), "--trust", str(cert)]).exit_code


def test_report_dir_keeps_the_signed_pdf_and_writes_the_new_one_beside_it(signed_run, tmp_path: Path) -> None:
    _, run, _, cert = signed_run
    run = _copy(run, tmp_path)
    signed = (run / "report.pdf").read_bytes()
    result = CliRunner().invoke(cli, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "report.pdf").read_bytes() == signed
    assert _verify(run / "report.pdf", cert) == 0
    assert "is signed and was kept unchanged" in result.output and "report-unsigned.pdf" in result.output
    assert (run / "report-unsigned.pdf").stat().st_size > 0 and not is_signed(run / "report-unsigned.pdf")


def test_rerunning_a_finished_signed_run_keeps_the_signature(signed_run, tmp_path: Path) -> None:
    spec, run, _, cert = signed_run
    run = _copy(run, tmp_path)
    signed = (run / "report.pdf").read_bytes()
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "is signed and was kept unchanged" in result.output
    assert (run / "report.pdf").read_bytes() == signed and _verify(run / "report.pdf", cert) == 0
    assert (run / "report-unsigned.pdf").exists()


def test_report_dir_with_the_key_re_signs(signed_run, tmp_path: Path) -> None:
    _, run, key, cert = signed_run
    run = _copy(run, tmp_path)
    (run / "report-unsigned.pdf").write_bytes(b"an older unsigned rendering")
    signed = (run / "report.pdf").read_bytes()
    result = CliRunner().invoke(cli, ["report", str(run), "--sign-key", str(key), "--sign-cert", str(cert)])
    assert result.exit_code == 0, result.output
    assert "signed" in result.output
    assert (run / "report.pdf").read_bytes() != signed and _verify(run / "report.pdf", cert) == 0
    assert not (run / "report-unsigned.pdf").exists()  # superseded by the newly signed report


def test_a_bad_key_leaves_the_signed_report_as_it_was(signed_run, tmp_path: Path) -> None:
    _, run, _, cert = signed_run
    run = _copy(run, tmp_path)
    signed = (run / "report.pdf").read_bytes()
    bad = tmp_path / "bad.key.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    result = CliRunner().invoke(cli, ["report", str(run), "--sign-key", str(bad), "--sign-cert", str(cert)])
    assert result.exit_code == 2 and "Traceback" not in result.output and "bad.key.pem" in result.output
    assert (run / "report.pdf").read_bytes() == signed
    assert not (run / "report-unsigned.pdf").exists()


def test_unsigned_reports_are_simply_replaced(tmp_path: Path) -> None:
    results = make_detection_results(tmp_path)
    first = render_report(results, tmp_path)
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7 an older unsigned report")
    again = render_report(results, tmp_path)
    assert (first.pdf, again.pdf, again.note) == (tmp_path / "report.pdf",) * 2 + ("",)
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF") and (tmp_path / "report.pdf").stat().st_size > 1000
    assert not (tmp_path / "report-unsigned.pdf").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert stat.S_IMODE((tmp_path / "report.pdf").stat().st_mode) & 0o044  # readable like any output, not 0600


def test_a_failed_rendering_leaves_the_previous_report_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = make_detection_results(tmp_path)
    (tmp_path / "report.pdf").write_bytes(b"%PDF previous")

    def disk_full(*_: object) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("fieldready.report.render._pdf_bytes", disk_full)
    with pytest.raises(ReportError, match="No space left on device"):
        render_report(results, tmp_path)
    assert (tmp_path / "report.pdf").read_bytes() == b"%PDF previous"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")]


def test_keygen_does_not_overwrite_a_key_without_force(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert CliRunner().invoke(cli, ["keygen", "-o", str(keys)]).exit_code == 0
    key = keys / "signer.key.pem"
    before = key.read_bytes()
    again = CliRunner().invoke(cli, ["keygen", "-o", str(keys)])
    assert again.exit_code == 2 and "Traceback" not in again.output
    assert str(key) in again.output and "already exists" in again.output and "--force" in again.output
    assert key.read_bytes() == before
    forced = CliRunner().invoke(cli, ["keygen", "-o", str(keys), "--force"])
    assert forced.exit_code == 0, forced.output
    assert key.read_bytes() != before
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
