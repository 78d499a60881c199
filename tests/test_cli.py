"""The command-line contract: sign and verify round trip, corrupt and corruptions, exit codes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from tests._project import make_detection_project


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("signed")
    keys = root / "keys"
    result = CliRunner().invoke(cli, ["keygen", "-o", str(keys)])
    assert result.exit_code == 0, result.output
    key, cert = keys / "signer.key.pem", keys / "signer.cert.pem"
    spec = make_detection_project(root / "p", n_images=4)
    result = CliRunner().invoke(
        cli, ["run", str(spec), "-o", str(root / "run"), "--quiet", "--sign-key", str(key), "--sign-cert", str(cert)]
    )
    assert result.exit_code == 0, result.output
    # a signed run says that it signed, as whom and which file
    assert f"signed {root / 'run' / 'report.pdf'} as fieldready test signer" in result.output, result.output
    return root / "run" / "report.pdf", cert


def test_signed_report_verifies(signed_run: tuple[Path, Path]) -> None:
    pdf, cert = signed_run
    result = CliRunner().invoke(cli, ["verify", str(pdf), "--trust", str(cert)])
    assert result.exit_code == 0, result.output
    assert "fieldready test signer" in result.output


def test_one_flipped_byte_fails_verification(signed_run: tuple[Path, Path], tmp_path: Path) -> None:
    pdf, cert = signed_run
    data = bytearray(pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["verify", str(tampered), "--trust", str(cert)])
    assert result.exit_code == 1, result.output


def test_unsigned_report_fails_verification(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=3)
    assert CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"]).exit_code == 0
    result = CliRunner().invoke(cli, ["verify", str(tmp_path / "run" / "report.pdf")])
    assert result.exit_code == 1


def test_fail_on_gate(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=3)
    spec.write_text(spec.read_text().replace("at_least: 0.3}", "at_least: 0.99}"))
    out = tmp_path / "run"
    assert CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"]).exit_code == 0
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet", "--fail-on", "no-go"])
    assert result.exit_code == 1, result.output
    verdicts = {line.split()[1]: line.split()[0] for line in result.output.splitlines() if "production score" in line}
    assert verdicts and "GO" not in verdicts.values(), result.output
    # the gate says why: every model that is not GO, with the blocking criteria that decided it
    assert "--fail-on no-go: exit 1 because no model is GO" in result.output
    for name in verdicts:
        line = next(li for li in result.output.splitlines() if li.strip().startswith(f"{name}:"))
        assert verdicts[name] in line and "c1" in line and "needs ≥ 0.990" in line, result.output


def test_plan_prints_physical_severities_and_estimate_hint(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=3, size=64)
    spec.write_text(spec.read_text().replace(
        "  - {corruption: translate, severity: {values: [2, 6]}, frequency: 0.1}",
        "  - {corruption: translate, severity: {values: [2, 6]}, frequency: 0.1}\n"
        "  - {corruption: gaussian_blur, severity: {levels: [1, 3]}, relative_to: 32, frequency: 0.1}"))
    result = CliRunner().invoke(cli, ["plan", str(spec)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    blur = lines[next(i for i, li in enumerate(lines) if li.strip().startswith("gaussian_blur")) + 1]
    # levels 1 and 3 are σ 1 and 3 px at 32 px; these images are 64 px, so ×2
    assert "level 1 = 1 → 2 on these images (×2)" in blur and "level 3 = 3 → 6 on these images (×2)" in blur, blur
    noise = lines[next(i for i, li in enumerate(lines) if li.strip().startswith("gaussian_noise")) + 1]
    assert "level 1 = 0.08" in noise and "level 3 = 0.18" in noise, noise
    assert "plan SPEC --estimate" in result.output


def test_corrupt_command_matches_python_api(tmp_path: Path) -> None:
    import torch

    import fieldready

    image = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), image)
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli, ["corrupt", str(src), "-c", "gaussian_noise", "--level", "3", "--seed", "7", "-o", str(out)])
    assert result.exit_code == 0, result.output
    written = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    batch = torch.from_numpy(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)[None].float() / 255
    expected = fieldready.corrupt(batch, "gaussian_noise", level=3, seed=7).images
    expected = (expected[0].permute(1, 2, 0) * 255).round().byte().numpy()
    assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(written.astype(int) - cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(int)).mean() > 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-c", "gausian_noise", "-s", "0.1"], "did you mean gaussian_noise"),
        (["-c", "gaussian_noise", "-s", "99"], "outside the valid range"),
    ],
)
def test_corrupt_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), np.zeros((16, 16, 3), np.uint8))
    result = CliRunner().invoke(cli, ["corrupt", str(src), *args, "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_corrupt_missing_image_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["corrupt", str(tmp_path / "nope.png"), "-c", "contrast", "--level", "1", "-o", str(tmp_path / "o.png")])
    assert result.exit_code == 2 and "nope.png" in result.output


def test_corruptions_lists_the_catalogue_and_previews(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["corruptions"])
    assert result.exit_code == 0
    for name in ("gaussian_noise", "glass_blur", "jpeg_compression", "translate", "hflip"):
        assert name in result.output
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), (np.random.default_rng(1).random((40, 40, 3)) * 255).astype(np.uint8))
    grid = tmp_path / "grid.png"
    result = CliRunner().invoke(cli, ["corruptions", "--preview", str(src), "-o", str(grid)])
    assert result.exit_code == 0, result.output
    img = cv2.imread(str(grid))
    assert img is not None and img.shape[0] > 40 * 10 and img.shape[1] >= 40 * 6


def test_encrypted_key_passphrase_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives import serialization

    from fieldready.report.sign import make_test_certificate

    key, cert = make_test_certificate(tmp_path / "keys")
    plain = serialization.load_pem_private_key(key.read_bytes(), None)
    encrypted = tmp_path / "keys" / "encrypted.pem"
    encrypted.write_bytes(
        plain.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"s3cret")
        )
    )
    spec = make_detection_project(tmp_path / "p", n_images=3)
    args = ["run", str(spec), "--quiet", "--sign-key", str(encrypted), "--sign-cert", str(cert)]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "nopass")])
    assert result.exit_code == 2 and "passphrase" in result.output
    monkeypatch.setenv("FIELDREADY_SIGN_PASSPHRASE", "s3cret")
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    verified = CliRunner().invoke(cli, ["verify", str(tmp_path / "run" / "report.pdf"), "--trust", str(cert)])
    assert verified.exit_code == 0
