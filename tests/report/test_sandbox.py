"""User report templates render in Jinja's sandbox: they read the report context and nothing else.

``fieldready report DIR --template-dir EVIL`` on a finished run: a template that reaches Python
internals (``__globals__``, ``os``, ``__subclasses__``…) ends in one ReportError naming the
template, exit 2, no traceback, nothing executed and the run's report left as it was.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from tests.report.conftest import make_detection_results


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    """A run directory holding results.json (and its gallery PNGs), as a finished run leaves it."""
    run = tmp_path / "run"
    run.mkdir()
    results = make_detection_results(run)
    (run / "results.json").write_text(results.model_dump_json(indent=2))
    return run


def _evil(tmp_path: Path, body: str, name: str = "report.html.j2") -> Path:
    folder = tmp_path / "evil"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(body)
    return folder


ESCAPES = [
    "{{ cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    "{{ joiner.__init__.__globals__['__builtins__']['open']('MARKER', 'w') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ctx.__class__.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "{{ range.__self__ }}",
    "{{ (ctx|attr('__class__')).__base__.__subclasses__() }}",
    "{{ '{0.__class__.__init__.__globals__}'.format(ctx) }}",
    "{% set xs = [] %}{{ xs.append(1) }}",
    "{{ ctx.models.clear() }}",
    "{{ 'x' * 100000000000 }}",
    "{{ 9 ** 999999999 }}",
]


@pytest.mark.parametrize("body", ESCAPES)
def test_template_escapes_fail_with_a_report_error(tmp_path: Path, finished_run: Path, body: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    evil = _evil(tmp_path, "<h1>{{ ctx.title }}</h1>\n" + body + "\n")
    result = CliRunner().invoke(cli, ["report", str(finished_run), "--template-dir", str(evil)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"{evil / 'report.html.j2'}:2" in result.output and "report template" in result.output, result.output
    assert not (tmp_path / "MARKER").exists()
    assert not (finished_run / "report.html").exists()


def test_escape_in_an_included_partial_names_the_partial(tmp_path: Path, finished_run: Path) -> None:
    evil = _evil(tmp_path, "{% include 'partials/x.html.j2' %}\n")
    (evil / "partials").mkdir()
    (evil / "partials" / "x.html.j2").write_text("ok\nok\n{{ cycler.__init__.__globals__ }}\n")
    result = CliRunner().invoke(cli, ["report", str(finished_run), "--template-dir", str(evil)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{evil / 'partials' / 'x.html.j2'}:3" in result.output and "not allowed" in result.output, result.output


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError"),
        ("{{ ctx.no_such_thing }}", "no_such_thing"),
        ("{{ ctx.title( }}", "failed"),
    ],
    ids=["zero-division", "recursion", "undefined", "syntax"],
)
def test_broken_templates_fail_with_a_report_error(tmp_path: Path, finished_run: Path, body: str, message: str) -> None:
    evil = _evil(tmp_path, "<p>\n" + body + "\n")
    result = CliRunner().invoke(cli, ["report", str(finished_run), "--template-dir", str(evil)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "report.html.j2" in result.output and message in result.output, result.output


def test_user_templates_are_autoescaped_and_render_through_the_sandbox(tmp_path: Path, finished_run: Path) -> None:
    """A legitimate override reads the context; values are HTML-escaped, the packaged partials still work."""
    evil = _evil(tmp_path, "{% extends 'report.html.j2' %}", name="unused.j2")
    (evil / "partials").mkdir()
    (evil / "partials" / "summary.html.j2").write_text(
        "<p id='custom'>{{ ctx.title }} | {{ '<script>alert(1)</script>' }} | {{ ctx.models | length }}</p>\n"
    )
    result = CliRunner().invoke(cli, ["report", str(finished_run), "--template-dir", str(evil)])
    assert result.exit_code == 0, result.output
    html = (finished_run / "report.html").read_text()
    assert "<p id='custom'>PPE detector release readiness | &lt;script&gt;alert(1)&lt;/script&gt; | 3</p>" in html
    assert "<script>alert(1)</script>" not in html
