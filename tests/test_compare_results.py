"""benchmarks/compare_results.py: the check that a refactor left every number of results.json as it was."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("compare_results", ROOT / "benchmarks" / "compare_results.py")
compare_results = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("compare_results", compare_results)  # dataclasses look their module up there
_spec.loader.exec_module(compare_results)  # type: ignore[union-attr]

BEFORE = {
    "models": [{"name": "a", "clean": {"map": 0.5}, "criteria": [{"value": 0.25, "ci": [0.2, 0.3], "passed": True}]}],
    "provenance": {"started": "2025-01-01T00:00:00", "duration_s": 10.0, "versions": {"torch": "2.2"}, "seed": 0},
}


def _after(**changes) -> dict:  # noqa: ANN003
    doc = json.loads(json.dumps(BEFORE))
    for path, value in changes.items():
        node = doc
        *head, last = path.split("__")
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value
    return doc


def test_identical_documents_compare_identical() -> None:
    result = compare_results.compare(BEFORE, _after())
    assert result.identical and result.compared == 7 and not result.added  # timestamps, durations, versions skipped


def test_a_last_bit_change_is_reported() -> None:
    result = compare_results.compare(BEFORE, _after(models__0__criteria__0__ci__1=0.30000000000000004))
    assert not result.identical and result.changed == ["models.0.criteria.0.ci.1: 0.3 → 0.30000000000000004"]


def test_a_changed_outcome_and_a_missing_key_are_reported() -> None:
    after = _after(models__0__criteria__0__passed=None)
    del after["models"][0]["clean"]["map"]
    result = compare_results.compare(BEFORE, after)
    assert result.changed == ["models.0.criteria.0.passed: True → None"]
    assert result.missing == ["models.0.clean.map"]


def test_added_keys_and_run_specific_fields_are_not_changes() -> None:
    after = _after(provenance__started="2026-01-01T00:00:00", provenance__duration_s=99.0, provenance__versions={"torch": "2.13"})
    after["models"][0]["criteria"][0]["floor"] = 0.4
    result = compare_results.compare(BEFORE, after)
    assert result.identical and result.added == ["models.0.criteria.0.floor"]
    assert not compare_results.compare(BEFORE, _after(provenance__seed=1)).identical


def test_the_script_compares_two_run_directories(tmp_path: Path) -> None:
    for name, doc in (("before", BEFORE), ("after", _after(models__0__clean__map=0.51))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(doc))
    assert compare_results.main([str(tmp_path / "before"), str(tmp_path / "before" / "results.json")]) == 0
    assert compare_results.main([str(tmp_path / "before"), str(tmp_path / "after")]) == 1
