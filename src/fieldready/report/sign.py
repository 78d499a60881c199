"""Sign a report PDF (PAdES, pyHanko) and verify it; a self-signed test certificate for trying it out.

The rule ``fieldready verify`` applies (``VerifyResult.ok`` → exit 0, otherwise 1):

* the PDF carries at least one signature,
* every signature is **intact** (the signed bytes hash to the signed digest),
* the last signature covers the **whole file** (nothing was appended after signing), and
* when a trust anchor is given (``trust=``), the signer **chains to it** (``valid``).

Trust comes only from ``trust`` (never the operating system's store) and nothing is fetched
from the network. Without ``trust`` the check proves integrity only, and the message says "intact but signer not
trusted" — the signer's name is shown for a human to judge. A self-signed certificate counts as
trusted exactly when ``trust`` points at that certificate.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fieldready.errors import ReportError, SignatureError
from fieldready.execution.store import write_atomic

__all__ = ["VerifyResult", "sign_pdf", "verify_pdf", "make_test_certificate", "check_signer", "is_signed", "env_passphrase",
           "PASSPHRASE_ENV"]

FIELD_NAME = "fieldready-signature"
# An encrypted key's passphrase comes from the environment, never from the spec or the command line.
PASSPHRASE_ENV = "FIELDREADY_SIGN_PASSPHRASE"


def env_passphrase() -> bytes | None:
    """The signing key's passphrase from ``FIELDREADY_SIGN_PASSPHRASE`` (None when unset or empty)."""
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode() if value else None


def is_signed(pdf: Path) -> bool:
    """Whether ``pdf`` exists and carries a signature dictionary (a damaged signed file still counts).

    Deliberately a byte search, not a parse: a file that might be signed is never treated as unsigned.
    """
    try:
        return b"/ByteRange" in Path(pdf).read_bytes()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ReportError(f"cannot read {pdf} ({exc.strerror or exc}); check the file's permissions") from None


def check_signer(key: Path, cert: Path, passphrase: bytes | None = None) -> None:
    """Load the key pair once, so a wrong path or passphrase fails before hours of compute, not after."""
    _load_signer(Path(key), Path(cert), passphrase)


def _load_signer(key: Path, cert: Path, passphrase: bytes | None):  # noqa: ANN202 - a pyHanko SimpleSigner
    from pyhanko.sign import signers

    for label, path in (("signing key", key), ("signing certificate", cert)):
        if not path.is_file():
            raise ReportError(f"{label} {path} does not exist; check the path (fieldready keygen makes a test key pair)")
    try:
        signer = signers.SimpleSigner.load(str(key), str(cert), key_passphrase=passphrase)
    except Exception as exc:  # pyHanko raises several types for bad PEM/DER or a wrong passphrase
        raise ReportError(f"cannot load signing key {key} / certificate {cert} ({exc}); "
                          f"check the files and the passphrase") from exc
    if signer is None:
        raise ReportError(f"cannot load signing key {key} / certificate {cert}; check the files and the passphrase")
    return signer


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of ``verify_pdf``; ``ok`` is the single yes/no that ``fieldready verify`` exits on."""

    signed: bool
    intact: bool
    valid: bool
    signer: str
    time: str
    message: str
    whole_file: bool = False
    trust_checked: bool = False

    @property
    def ok(self) -> bool:
        return self.signed and self.intact and self.whole_file and (self.valid or not self.trust_checked)


def sign_pdf(
    pdf: Path,
    *,
    key: Path,
    cert: Path,
    passphrase: bytes | None = None,
    out: Path | None = None,
) -> Path:
    """Sign the whole of ``pdf`` (PAdES baseline, SHA-256) and write it to ``out`` (default: in place).

    Returns the path of the signed file. Raises ReportError naming the file that could not be used.
    """
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    pdf, key, cert = Path(pdf), Path(key), Path(cert)
    target = Path(out) if out is not None else pdf
    if not pdf.is_file():
        raise ReportError(f"report PDF {pdf} does not exist; check the path (fieldready keygen makes a test key pair)")
    signer = _load_signer(key, cert, passphrase)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="fieldready deployment-readiness report",
    )
    try:
        with open(pdf, "rb") as inf:
            signed = io.BytesIO()
            signers.sign_pdf(IncrementalPdfFileWriter(inf, strict=False), meta, signer=signer, output=signed)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, signed.getvalue())  # a failed signing never leaves a half-written report
    except Exception as exc:
        raise ReportError(f"signing {pdf} failed ({exc}); re-render the report and sign again") from exc
    return target


def _load_trust(trust: Path) -> list:
    from pyhanko.keys import load_certs_from_pemder

    if not Path(trust).is_file():
        raise SignatureError(f"trust certificate {trust} does not exist; pass the signer's or its CA's certificate")
    try:
        return list(load_certs_from_pemder([str(trust)]))
    except Exception as exc:
        raise SignatureError(f"trust certificate {trust} is not a PEM/DER certificate ({exc}); pass a .pem or .crt file") from exc


def verify_pdf(pdf: Path, *, trust: Path | None = None) -> VerifyResult:
    """Check every signature in ``pdf``; see the module docstring for when the result is ``ok``.

    Raises SignatureError only when ``pdf`` or ``trust`` cannot be read; a damaged or unsigned
    report yields a result that is not ok, with a message saying why.
    """
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    pdf = Path(pdf)
    if not pdf.is_file():
        raise SignatureError(f"{pdf} does not exist; pass the path of a signed report PDF")
    # Trust is only what the caller names (never the OS store), and no network: verification is
    # reproducible offline; revocation of a CA-issued cert is then soft-fail.
    roots = _load_trust(trust) if trust is not None else []
    vc = ValidationContext(trust_roots=roots, allow_fetching=False)
    checked = trust is not None
    # pyHanko logs a traceback for every untrusted signer; the result already says so in one line.
    quiet = logging.getLogger("pyhanko")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with open(pdf, "rb") as f:
            sigs = PdfFileReader(f, strict=False).embedded_signatures
            if not sigs:
                return VerifyResult(False, False, False, "", "", f"{pdf} is not signed; sign it with fieldready run --sign-key/--sign-cert",
                                    trust_checked=checked)
            statuses = [validate_pdf_signature(s, vc) for s in sigs]
    except SignatureValidationError as exc:
        return VerifyResult(True, False, False, "", "", f"{pdf}: signature is broken ({exc}); the file was modified after signing",
                            trust_checked=checked)
    except Exception as exc:  # a flipped byte can break the PDF structure itself
        return VerifyResult(False, False, False, "", "", f"{pdf} cannot be read as a signed PDF ({type(exc).__name__}: {exc}); "
                            f"it is damaged or was modified", trust_checked=checked)
    finally:
        quiet.setLevel(level)
    last = statuses[-1]
    intact = all(s.intact for s in statuses)
    valid = all(s.bottom_line for s in statuses)
    whole = last.coverage == SignatureCoverageLevel.ENTIRE_FILE
    subject = last.signing_cert.subject
    signer = subject.native.get("common_name") or subject.human_friendly
    when = last.signer_reported_dt.astimezone(dt.timezone.utc).isoformat() if last.signer_reported_dt else ""
    if not intact:
        msg = f"{pdf}: signature is NOT intact — the signed content was modified after signing"
    elif not whole:
        msg = f"{pdf}: signature is intact but does not cover the whole file — content was appended after signing"
    elif not checked:
        msg = f"{pdf}: signature intact, covers the whole file, but signer not trusted (no trust certificate given): {signer}"
    elif not valid:
        msg = f"{pdf}: signature intact but signer not trusted by {trust}: {signer}"
    else:
        msg = f"{pdf}: signature valid — signed by {signer} at {when}, trusted via {trust}"
    return VerifyResult(True, intact, valid, signer, when, msg, whole_file=whole, trust_checked=checked)


def make_test_certificate(
    out_dir: Path, *, common_name: str = "fieldready test signer", force: bool = False
) -> tuple[Path, Path]:
    """Write a self-signed key pair (``signer.key.pem``, ``signer.cert.pem``) for trying signing out.

    Not for production sign-off: anyone can make one; verify with ``trust=`` the cert path. An
    existing key or certificate is never overwritten unless ``force`` — reports signed with it
    could no longer be re-signed by the same signer.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out_dir = Path(out_dir)
    key_path, cert_path = out_dir / "signer.key.pem", out_dir / "signer.cert.pem"
    existing = [p for p in (key_path, cert_path) if p.exists() or p.is_symlink()]
    if existing and not force:
        raise ReportError(f"{existing[0]} already exists and was left unchanged; use another -o directory, "
                          "or --force to replace the key pair")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create {out_dir} ({exc.strerror}); choose a writable directory") from exc
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fieldready (self-signed test)")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        _write_private(key_path, key_pem)
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    except OSError as exc:
        raise ReportError(f"cannot write the key pair into {out_dir} ({exc.strerror or exc}); choose a writable directory") from exc
    return key_path, cert_path


def _write_private(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Write a key file atomically, created with ``mode`` from the start (a key is never world-readable)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
