"""Render ``Results`` to ``report.html`` (one self-contained file) and ``report.pdf`` from one template set.

Files are written atomically (temp file + rename). A signed ``report.pdf`` is never silently
replaced: a new rendering is signed again when a key is given, otherwise it is written beside the
signed one as ``report-unsigned.pdf`` and ``ReportPaths.note`` says so.

Re-rendering is fast: charts are cached by their inputs and the PDF by the exact printable HTML it
was laid out from, both in ``<run>/.cache/report/`` (``CACHE_DIR``); deleting it only costs time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pydantic
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fieldready.errors import ReportError
from fieldready.execution.store import RunLock, write_atomic
from fieldready.judge.results import Results
from fieldready.report.charts import ChartCache
from fieldready.report.context import ReportContext, build_context
from fieldready.report.sign import is_signed, sign_pdf
from fieldready.resources import templates_dir

__all__ = [
    "ReportPaths",
    "Signing",
    "PAGE_SIZES",
    "load_results",
    "render_report",
    "render_run",
    "render_html",
    "make_environment",
]

# User spelling → CSS @page size keyword.
PAGE_SIZES = {"a4": "A4", "letter": "letter", "us letter": "letter", "us-letter": "letter"}
ENTRY_TEMPLATE = "report.html.j2"
REPORT_PDF = "report.pdf"
UNSIGNED_PDF = "report-unsigned.pdf"
CACHE_DIR = Path(".cache") / "report"  # inside the run directory: chart SVGs and the last PDF


@dataclass(frozen=True)
class ReportPaths:
    """Where the report went: ``pdf`` is the new rendering; ``note`` tells what happened to a signed report."""

    html: Path
    pdf: Path
    signed: bool = False
    note: str = ""


@dataclass(frozen=True)
class Signing:
    """The key pair (and the encrypted key's passphrase) to sign ``report.pdf`` with."""

    key: Path
    cert: Path
    passphrase: bytes | None = None


def _autoescape(name: str | None) -> bool:
    # Escape everything but stylesheets: CSS is package/user data, and escaping would break its quotes.
    return not (name or "").endswith(".css")


class _ReportSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, plus bounds on ``*`` and ``**`` so a template cannot exhaust memory.

    The sandbox refuses underscore attributes (``__globals__``, ``__subclasses__``…), function
    internals and mutating methods; a user's ``template_dir`` can read the report context, nothing else.
    """

    intercepted_binops = frozenset({"*", "**"})
    MAX_ITEMS = 10_000_000  # a repeated string or list longer than this is no report
    MAX_EXPONENT = 1_000

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: object, right: object) -> object:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int) and len(seq) * times > self.MAX_ITEMS:
                    raise SecurityError(f"repeating a sequence of {len(seq)} items {times} times is not allowed in a report template")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > self.MAX_EXPONENT:
            raise SecurityError(f"an exponent of {right} is not allowed in a report template")
        return super().call_binop(context, operator, left, right)


def make_environment(template_dir: Path | None = None) -> jinja2.Environment:
    """Sandboxed Jinja2 environment: the user's template directory (if any) overrides the packaged templates.

    Templates from a spec's ``report.template_dir`` are user input, so every template renders in
    Jinja's immutable sandbox with HTML autoescaping; the packaged templates render identically in it.
    """
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        if not Path(template_dir).is_dir():
            raise ReportError(f"template directory {template_dir} does not exist; pass an existing directory or omit it")
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    return _ReportSandbox(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _page_size(page_size: str) -> str:
    size = PAGE_SIZES.get(page_size.strip().lower())
    if size is None:
        raise ReportError(f"page size {page_size!r} is not supported; use 'A4' or 'Letter'")
    return size


def render_html(env: jinja2.Environment, ctx: ReportContext, *, pdf: bool, page_size: str = "A4") -> str:
    """Render the page; ``pdf`` switches on the print stylesheet (page size, running header, page numbers)."""
    try:
        return env.get_template(ENTRY_TEMPLATE).render(ctx=ctx, pdf=pdf, page_size=_page_size(page_size))
    except jinja2.TemplateNotFound as exc:
        raise ReportError(f"report template {exc.name} not found in the template directory or the package; "
                          f"copy it from {templates_dir()}") from exc
    except SecurityError as exc:
        raise ReportError(f"report template {_template_where(exc)} is not allowed to do this: {exc}; a report "
                          f"template may only read the report context") from None
    except jinja2.TemplateError as exc:
        where = (f"{getattr(exc, 'filename', None) or ENTRY_TEMPLATE}:{exc.lineno}" if getattr(exc, "lineno", None)
                 else _template_where(exc))
        raise ReportError(f"report template {where} failed: {exc}; fix the template or use the packaged one") from exc
    except Exception as exc:  # a user's template can divide by zero, recurse without end, call wrongly…
        text = " ".join(str(exc).split())[:300]
        raise ReportError(f"report template {_template_where(exc)} failed: {type(exc).__name__}: {text}; fix the "
                          f"template or use the packaged one") from None


def _template_where(exc: BaseException) -> str:
    """``file:line`` of the innermost template frame of ``exc`` (Jinja maps its frames to template lines)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.endswith(".py")]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ENTRY_TEMPLATE


def _cached_pdf(html: str, base_url: Path, cache: Path | None) -> bytes:
    """The PDF of ``html``: the cached one when this exact HTML was laid out before, else WeasyPrint's.

    The key is the printable HTML itself (every chart, number and image is inlined in it) and
    WeasyPrint's version; only the latest PDF is kept.
    """
    if cache is None:
        return _pdf_bytes(html, base_url)
    from importlib.metadata import version

    key = hashlib.sha256(f"{version('weasyprint')}|{base_url}|".encode() + html.encode()).hexdigest()[:32]
    path = cache / f"report-{key}.pdf"
    try:
        return path.read_bytes()
    except OSError:
        pass
    pdf = _pdf_bytes(html, base_url)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for old in cache.glob("report-*.pdf"):
            old.unlink(missing_ok=True)
        write_atomic(path, pdf)
    except OSError:
        pass  # a read-only run directory still gets its report; the next rendering lays it out again
    return pdf


def _signer(cert: Path) -> str:
    """The signing certificate's common name, for the 'signed by' line (the file name if unreadable)."""
    try:
        from cryptography import x509

        names = x509.load_pem_x509_certificate(Path(cert).read_bytes()).subject.get_attributes_for_oid(
            x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else Path(cert).name
    except (OSError, ValueError, ImportError):
        return Path(cert).name


def _pdf_bytes(html: str, base_url: Path) -> bytes:
    import weasyprint  # heavy import, only when a PDF is written

    # WeasyPrint warns about CSS it ignores (e.g. screen-only properties); the print sheet is tested.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return weasyprint.HTML(string=html, base_url=str(base_url)).write_pdf()


def render_report(
    results: Results,
    out_dir: Path,
    *,
    template_dir: Path | None = None,
    page_size: str = "A4",
    run_dir: Path | None = None,
    signing: Signing | None = None,
    progress: Callable[[str], None] | None = None,
    cache: bool = True,
) -> ReportPaths:
    """Write ``out_dir/report.html`` and ``out_dir/report.pdf`` for ``results`` (signed with ``signing``).

    Gallery PNG paths are resolved against ``run_dir`` (default: ``out_dir``). The HTML is
    byte-identical for identical results. When ``report.pdf`` is signed and no ``signing`` is given,
    it is kept and the new PDF is written as ``report-unsigned.pdf``. ``progress`` is told each
    step as it starts (charts, HTML, PDF, signing); ``cache`` False draws and lays out everything.
    """
    out_dir = Path(out_dir)
    step = progress or (lambda _: None)
    env = make_environment(template_dir)
    size = _page_size(page_size)
    cache_dir = out_dir / CACHE_DIR if cache else None
    step("charts")
    ctx = build_context(results, run_dir=Path(run_dir) if run_dir is not None else out_dir,
                        chart_cache=ChartCache(cache_dir / "charts" if cache_dir else None))
    step("html")
    html = render_html(env, ctx, pdf=False, page_size=size)
    printable = render_html(env, ctx, pdf=True, page_size=size)
    html_path, pdf_path, unsigned = out_dir / "report.html", out_dir / REPORT_PDF, out_dir / UNSIGNED_PDF
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(html_path, html)
        step("pdf")
        pdf = _cached_pdf(printable, out_dir, cache_dir)
        if signing is not None:
            step("signing")
            _write_signed(pdf, pdf_path, signing)
            unsigned.unlink(missing_ok=True)  # an older unsigned rendering is superseded by this signed one
            return ReportPaths(html_path, pdf_path, signed=True,
                               note=f"signed {pdf_path} as {_signer(signing.cert)} (certificate {signing.cert})")
        if is_signed(pdf_path):
            write_atomic(unsigned, pdf)
            return ReportPaths(html_path, unsigned, note=(
                f"{pdf_path} is signed and was kept unchanged; the new rendering is {unsigned} "
                "(give --sign-key and --sign-cert to replace the signed report with a newly signed one)"))
        write_atomic(pdf_path, pdf)
        unsigned.unlink(missing_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot write the report into {out_dir} ({exc.strerror or exc}); check that it is writable "
                          "and has free space") from exc
    return ReportPaths(html_path, pdf_path)


def _write_signed(pdf: bytes, target: Path, signing: Signing) -> None:
    """Sign the rendered bytes into ``target`` atomically: a failure leaves the old report as it was."""
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".pdf", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pdf)
        sign_pdf(Path(tmp), key=signing.key, cert=signing.cert, passphrase=signing.passphrase, out=target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_results(path: Path) -> Results:
    """Read and validate a ``results.json``; ReportError names the file and the first problem."""
    path = Path(path)
    try:
        return Results.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot read {path} ({exc.strerror}); pass a run directory that holds results.json") from exc
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "<top>"
        raise ReportError(f"{path}: {where}: {err['msg']}; the file does not match this fieldready version's "
                          f"results schema — re-run the spec") from exc


def render_run(
    run_dir: Path,
    *,
    out_dir: Path | None = None,
    template_dir: Path | None = None,
    page_size: str | None = None,
    signing: Signing | None = None,
    progress: Callable[[str], None] | None = None,
) -> ReportPaths:
    """Re-render a run directory's report from its ``results.json`` (``fieldready report DIR``).

    ``page_size`` None keeps the page size the run was rendered with. The output directory is
    locked, so a run still writing there is not raced.
    """
    run_dir = Path(run_dir)
    target = out_dir if out_dir is not None else run_dir
    if not run_dir.is_dir():
        load_results(run_dir / "results.json")  # raises, naming the missing run directory
    with RunLock(target):  # a run still writing here says so, instead of a missing results.json
        results = load_results(run_dir / "results.json")
        return render_report(results, target, template_dir=template_dir, page_size=page_size or results.page_size,
                             run_dir=run_dir, signing=signing, progress=progress)
