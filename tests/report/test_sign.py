"""sign_pdf / verify_pdf round trip, tampering, unsigned and untrusted reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldready.errors import ReportError, SignatureError
from fieldready.report.sign import make_test_certificate, sign_pdf, verify_pdf


@pytest.fixture(scope="module")
def signed(rendered, tmp_path_factory):
    """The shared fixture report signed with a fresh self-signed certificate."""
    d = tmp_path_factory.mktemp("sign")
    key, cert = make_test_certificate(d / "keys")
    out = sign_pdf(rendered[1].pdf, key=key, cert=cert, out=d / "signed.pdf")
    return out, cert, d


def test_round_trip_is_ok_with_trust(signed):
    pdf, cert, _ = signed
    r = verify_pdf(pdf, trust=cert)
    assert (r.signed, r.intact, r.valid, r.whole_file, r.ok) == (True, True, True, True, True)
    assert r.signer == "fieldready test signer"
    assert r.time.endswith("+00:00") and "signature valid" in r.message


def test_without_trust_is_intact_but_not_trusted(signed):
    r = verify_pdf(signed[0])
    assert r.intact and r.whole_file and not r.trust_checked and r.ok
    assert "signer not trusted" in r.message


def test_other_trust_anchor_is_not_ok(signed):
    pdf, _, d = signed
    _, other = make_test_certificate(d / "other", common_name="someone else")
    r = verify_pdf(pdf, trust=other)
    assert r.intact and not r.valid and not r.ok and "signer not trusted" in r.message


@pytest.mark.parametrize("where", [0.3, 0.6, 0.999])
def test_flipping_one_byte_is_not_ok(signed, tmp_path, where):
    pdf, cert, _ = signed
    data = bytearray(pdf.read_bytes())
    pos = int(len(data) * where) - 1
    data[pos] ^= 0x01
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(bytes(data))
    r = verify_pdf(bad, trust=cert)
    assert not r.ok, r.message


def test_appended_bytes_are_not_ok(signed, tmp_path):
    pdf, cert, _ = signed
    bad = tmp_path / "appended.pdf"
    bad.write_bytes(pdf.read_bytes() + b"\n% appended after signing\n")
    r = verify_pdf(bad, trust=cert)
    assert not r.ok and "whole file" in r.message


def test_unsigned_is_not_ok(rendered, signed):
    r = verify_pdf(rendered[1].pdf, trust=signed[1])
    assert (r.signed, r.ok) == (False, False) and "is not signed" in r.message


def test_missing_files_raise_with_the_path(tmp_path, signed):
    with pytest.raises(SignatureError, match="nope.pdf does not exist"):
        verify_pdf(tmp_path / "nope.pdf")
    with pytest.raises(SignatureError, match="trust certificate .*missing.pem does not exist"):
        verify_pdf(signed[0], trust=tmp_path / "missing.pem")
    with pytest.raises(ReportError, match="signing key .*k.pem does not exist"):
        sign_pdf(signed[0], key=tmp_path / "k.pem", cert=signed[1])
