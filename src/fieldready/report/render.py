"""Render ``Results`` to ``report.html`` (one self-contained file) and ``report.pdf`` from one template set."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pydantic

from fieldready.errors import ReportError
from fieldready.report.context import ReportContext, build_context
from fieldready.results import Results

__all__ = ["ReportPaths", "PAGE_SIZES", "load_results", "render_report", "render_run", "render_html", "make_environment"]

# User spelling → CSS @page size keyword.
PAGE_SIZES = {"a4": "A4", "letter": "letter", "us letter": "letter", "us-letter": "letter"}
ENTRY_TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    pdf: Path


def _autoescape(name: str | None) -> bool:
    # Escape everything but stylesheets: CSS is package/user data, and escaping would break its quotes.
    return not (name or "").endswith(".css")


def make_environment(template_dir: Path | None = None) -> jinja2.Environment:
    """Jinja2 environment: the user's template directory (if any) overrides the packaged templates."""
    loaders: list[jinja2.BaseLoader] = []
    if template_dir is not None:
        if not Path(template_dir).is_dir():
            raise ReportError(f"template directory {template_dir} does not exist; pass an existing directory or omit it")
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.PackageLoader("fieldready", "templates"))
    return jinja2.Environment(
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
                          f"copy it from fieldready/templates") from exc
    except jinja2.TemplateError as exc:
        where = f"{getattr(exc, 'filename', None) or ENTRY_TEMPLATE}:{getattr(exc, 'lineno', '?')}"
        raise ReportError(f"report template {where} failed: {exc}; fix the template or use the packaged one") from exc


def _write_pdf(html: str, path: Path, base_url: Path) -> None:
    import weasyprint  # heavy import, only when a PDF is written

    # WeasyPrint warns about CSS it ignores (e.g. screen-only properties); the print sheet is tested.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    try:
        weasyprint.HTML(string=html, base_url=str(base_url)).write_pdf(str(path))
    except OSError as exc:
        raise ReportError(f"cannot write {path} ({exc.strerror}); check that the directory is writable") from exc


def render_report(
    results: Results,
    out_dir: Path,
    *,
    template_dir: Path | None = None,
    page_size: str = "A4",
    run_dir: Path | None = None,
) -> ReportPaths:
    """Write ``out_dir/report.html`` and ``out_dir/report.pdf`` for ``results``.

    Gallery PNG paths are resolved against ``run_dir`` (default: ``out_dir``). The HTML is
    byte-identical for identical results.
    """
    out_dir = Path(out_dir)
    env = make_environment(template_dir)
    size = _page_size(page_size)
    ctx = build_context(results, run_dir=Path(run_dir) if run_dir is not None else out_dir)
    html = render_html(env, ctx, pdf=False, page_size=size)
    printable = render_html(env, ctx, pdf=True, page_size=size)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        html_path = out_dir / "report.html"
        html_path.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report into {out_dir} ({exc.strerror}); check that it is writable") from exc
    pdf_path = out_dir / "report.pdf"
    _write_pdf(printable, pdf_path, out_dir)
    return ReportPaths(html=html_path, pdf=pdf_path)


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
) -> ReportPaths:
    """Re-render a run directory's report from its ``results.json`` (``fieldready report DIR``).

    ``page_size`` None keeps the page size the run was rendered with.
    """
    run_dir = Path(run_dir)
    results = load_results(run_dir / "results.json")
    return render_report(results, out_dir if out_dir is not None else run_dir,
                         template_dir=template_dir, page_size=page_size or results.page_size, run_dir=run_dir)
