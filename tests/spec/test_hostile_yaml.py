"""Hostile YAML specs: each ends in one located SpecError naming the file, exit 2, no traceback.

Anchors/aliases, merge keys, non-core tags, deep nesting, huge, non-UTF-8, empty and non-mapping
files, through the real CLI.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.yaml_positions import MAX_BYTES, MAX_DEPTH
from tests._project import make_detection_project

BILLION_LAUGHS = """\
fieldready: 1
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _located(out: str, spec: Path) -> tuple[int, int]:
    """Line and column of the first ``SPEC:LINE:COL:`` message naming ``spec``."""
    m = re.search(re.escape(str(spec)) + r":(\d+):(\d+): ", out)
    assert m, out
    return int(m[1]), int(m[2])


def _append(spec: Path, text: str) -> int:
    """Append lines to a valid spec; return the 1-based line number of the first appended line."""
    before = spec.read_text()
    spec.write_text(before + text)
    return before.count("\n") + 1


def test_billion_laughs_is_refused_at_the_first_anchor_by_the_real_cli(tmp_path: Path) -> None:
    spec = tmp_path / "laughs.yaml"
    spec.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS.encode()) < 1000
    proc = subprocess.run([sys.executable, "-m", "fieldready.cli", "validate", str(spec)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"{spec}:2:4: YAML anchor '&a' is not allowed" in proc.stderr


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_billion_laughs_in_every_command(tmp_path: Path, command: str) -> None:
    spec = tmp_path / "laughs.yaml"
    spec.write_text(BILLION_LAUGHS)
    args = [command, str(spec)] + (["-o", str(tmp_path / "run"), "--quiet"] if command == "run" else [])
    code, out = _cli(*args)
    assert code == 2 and "Traceback" not in out
    assert _located(out, spec) == (2, 4) and "anchor" in out
    assert not (tmp_path / "run").exists()


def test_an_alias_to_a_legitimate_anchor_is_refused_where_the_anchor_is(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    text = spec.read_text()
    assert "run: {" in text
    lines = text.splitlines()
    run_line = next(i for i, line in enumerate(lines) if line.startswith("run: {")) + 1
    spec.write_text(text.replace("run: {", "run: &settings {") + "other: *settings\n")
    code, out = _cli("validate", str(spec))
    assert code == 2 and "Traceback" not in out
    assert _located(out, spec)[0] == run_line and "anchor '&settings'" in out


def test_merge_key_is_refused(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    line = _append(spec, "extra:\n  <<: {seed: 3}\n  more: 1\n")
    code, out = _cli("validate", str(spec))
    assert code == 2 and "Traceback" not in out
    assert _located(out, spec) == (line + 1, 3) and "merge key '<<'" in out


def test_a_quoted_merge_key_is_an_ordinary_unknown_key(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    line = _append(spec, "'<<': 1\n")
    code, out = _cli("validate", str(spec))
    assert code == 2 and "Traceback" not in out
    assert _located(out, spec)[0] == line and "unknown key '<<'" in out


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('!!python/object/apply:os.system ["touch {marker}"]', "!!python/object/apply:os.system"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ('!!python/object/new:subprocess.check_output [["touch", "{marker}"]]', "!!python/object/new:subprocess"),
        ("!custom 3", "!custom"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set [a]", "!!set"),
        ("!<tag:example.com,2024:thing> x", "tag:example.com,2024:thing"),
    ],
)
def test_unknown_tags_are_refused_and_never_run(tmp_path: Path, value: str, shown: str) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    marker = tmp_path / "MARKER"
    line = _append(spec, f"extra: {value.replace('{marker}', str(marker))}\n")
    code, out = _cli("validate", str(spec))
    assert code == 2 and "Traceback" not in out
    assert _located(out, spec) == (line, 8) and f"YAML tag '{shown}" in out
    assert not marker.exists()


def test_core_tags_are_plain_values(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    spec.write_text(spec.read_text().replace("name: tiny-detector", "name: !!str tiny-detector"))
    code, out = _cli("validate", str(spec))
    assert code == 0, out


@pytest.mark.parametrize(
    "body",
    [
        "[" * 10_000 + "]" * 10_000,
        "[a, " * 5_000 + "]" * 5_000,
        "{a: " * 5_000 + "1" + "}" * 5_000,
        "\n" + "".join("  " * i + "- \n" for i in range(1, MAX_DEPTH + 5)),
        "\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, MAX_DEPTH + 5)),
    ],
    ids=["lists", "lists-with-items", "mappings", "block-lists", "block-mappings"],
)
def test_deep_nesting_is_refused_without_recursion(tmp_path: Path, body: str) -> None:
    spec = tmp_path / "deep.yaml"
    spec.write_text("fieldready: 1\nextra: " + body + "\n")
    assert spec.stat().st_size <= MAX_BYTES
    code, out = _cli("validate", str(spec))
    assert code == 2 and "Traceback" not in out and "RecursionError" not in out
    line, _ = _located(out, spec)
    assert line >= 2 and f"nests deeper than {MAX_DEPTH} levels" in out


def test_deep_nesting_through_the_real_cli(tmp_path: Path) -> None:
    spec = tmp_path / "deep.yaml"
    spec.write_text("fieldready: 1\nextra: " + "[" * 10_000 + "]" * 10_000 + "\n")
    proc = subprocess.run([sys.executable, "-m", "fieldready.cli", "plan", str(spec)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr + proc.stdout
    assert f"{spec}:2:" in proc.stderr and "nests deeper" in proc.stderr


def test_nesting_at_the_limit_is_parsed(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    line = _append(spec, "extra: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")
    code, out = _cli("validate", str(spec))
    assert code == 2 and _located(out, spec)[0] == line and "unknown key 'extra'" in out


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    spec.write_text(spec.read_text() + "# " + "x" * (MAX_BYTES * 30) + "\n")
    code, out = _cli("validate", str(spec))
    assert code == 2 and "Traceback" not in out
    assert str(spec) in out and f"larger than {MAX_BYTES // 1024} KiB" in out


def test_file_at_the_size_limit_is_parsed(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    text = spec.read_text()
    spec.write_text(text + "#" * (MAX_BYTES - len(text.encode()) - 1) + "\n")
    assert spec.stat().st_size == MAX_BYTES
    assert _cli("validate", str(spec))[0] == 0


def test_non_utf8_file_names_the_byte_position(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    spec.write_bytes(spec.read_bytes().replace(b"name: tiny-detector", b"name: tiny-d\xe9tector"))
    code, out = _cli("validate", str(spec))
    assert code == 2 and "Traceback" not in out
    assert _located(out, spec) == (2, 13) and "not UTF-8" in out and "0xe9" in out


def test_utf16_file_is_not_utf8(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    spec.write_text(spec.read_text(), encoding="utf-16")
    code, out = _cli("validate", str(spec))
    assert code == 2 and "Traceback" not in out and str(spec) in out and "not UTF-8" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the spec file is empty"),
        ("   \n\n", "the spec file is empty"),
        ("# only a comment\n", "only comments"),
        ("- fieldready: 1\n- task: detection\n", "the spec is a YAML list"),
        ("fieldready\n", "the spec is a YAML single value"),
        ("42\n", "the spec is a YAML single value"),
        ("fieldready: 1\n---\ntask: detection\n", "expected a single document"),
        ("fieldready: 1\nseed: 1" + "0" * 5000 + "\n", "a value in the spec cannot be read"),
        ("fieldready: 1\nname: a\x00b\n", "YAML syntax error"),
    ],
    ids=["empty", "blank", "comment", "list", "word", "number", "two-documents", "huge-int", "nul"],
)
def test_files_that_are_not_a_mapping(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    code, out = _cli("validate", str(spec))
    assert code == 2 and "Traceback" not in out
    assert out.startswith(f"{spec}:") and message in out, out


def test_a_directory_instead_of_a_file(tmp_path: Path) -> None:
    code, out = _cli("validate", str(tmp_path))
    assert code == 2 and "Traceback" not in out and out.startswith(f"{tmp_path}:") and "directory" in out
