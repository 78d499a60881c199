"""Operating envelope: hand-computed crossings, the three statuses, intervals that agree with the judge, results.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fieldready.cli import cli
from fieldready.judge.criteria import judge
from fieldready.judge.envelope import Crossing, crossing, envelope, severity_axes
from fieldready.plan import ConditionEntry, Point, Step
from fieldready.spec.models import Criterion
from tests._project import DETECTION_SPEC, make_detection_project


def test_crossing_interpolates_between_the_last_pass_and_the_first_fail() -> None:
    # 0.6 → 0.3 crosses 0.5 a third of the way from the second point to the third
    found = crossing([0.7, 0.6, 0.3], 0.5, higher_is_better=True)
    assert found is not None and found.status == "interpolated"
    assert found.index == pytest.approx(1 + 1 / 3)


def test_envelope_is_interpolated_in_physical_units() -> None:
    # tested at σ 1, 2, 4: a third of the way from 2 to 4 is 2.667, not the midpoint of the indices
    out = envelope([1.0, 2.0, 4.0], [0.7, 0.6, 0.3], None, 0.5, higher_is_better=True)
    assert out is not None and out["status"] == "interpolated"
    assert out["severity"] == pytest.approx(2 + 2 / 3)
    assert out["position"] == pytest.approx(1 + 1 / 3)
    assert out["ci"] is None  # no intervals given, none invented


def test_smaller_is_better_criteria_cross_upwards() -> None:
    # a drop of 0.08 → 0.20 crosses 0.10 at 1/6 of the segment
    out = envelope([10.0, 20.0, 30.0], [0.02, 0.08, 0.20], None, 0.10, higher_is_better=False)
    assert out is not None and out["severity"] == pytest.approx(20 + 10 / 6)


def test_descending_physical_scale() -> None:
    # JPEG quality 50 → 30 → 15 (harsher is lower): the envelope lies between 30 and 15
    out = envelope([50.0, 30.0, 15.0], [0.8, 0.6, 0.4], None, 0.5, higher_is_better=True)
    assert out is not None and out["severity"] == pytest.approx(22.5)


def test_passes_at_every_tested_severity() -> None:
    out = envelope([0.5, 1.0, 2.0], [0.9, 0.8, 0.7], None, 0.5, higher_is_better=True)
    assert out is not None
    assert out["status"] == "passes at all tested" and out["severity"] == 2.0  # at least the harshest tested


def test_fails_at_the_lowest_tested_severity() -> None:
    out = envelope([0.5, 1.0, 2.0], [0.4, 0.3, 0.2], None, 0.5, higher_is_better=True)
    assert out is not None
    assert out["status"] == "fails at lowest" and out["severity"] is None and out["position"] is None


def test_a_recovery_at_a_harsher_severity_does_not_extend_the_envelope() -> None:
    assert crossing([0.6, 0.4, 0.6], 0.5, higher_is_better=True) == Crossing("interpolated", 0.5)


def test_a_value_on_the_threshold_passes_but_an_interval_end_on_it_does_not() -> None:
    assert crossing([0.6, 0.5, 0.5, 0.4], 0.5, higher_is_better=True) == Crossing("interpolated", 2.0)
    assert crossing([0.6, 0.5, 0.5, 0.4], 0.5, higher_is_better=True, strict=True) == Crossing("interpolated", 1.0)


def test_missing_value_gives_no_envelope() -> None:
    assert envelope([1.0, 2.0, 3.0], [0.7, float("nan"), 0.3], None, 0.5, higher_is_better=True) is None


def test_interval_ends_are_the_crossings_of_the_bounds() -> None:
    values = [0.60, 0.50, 0.40]
    intervals = [(0.55, 0.65), (0.45, 0.55), (0.35, 0.45)]
    out = envelope([1.0, 2.0, 3.0], values, intervals, 0.5, higher_is_better=True)
    assert out is not None
    # lower bounds 0.55 → 0.45 reach 0.5 halfway (1.5); upper bounds 0.55 → 0.45 halfway later (2.5)
    assert out["ci"] == pytest.approx([1.5, 2.5])
    assert out["ci_status"] == ["interpolated", "interpolated"]
    # the measured curve sits on the threshold at the second point (a pass) and below it after
    assert out["severity"] == pytest.approx(2.0)


def test_interval_ends_beyond_the_tested_range_are_not_invented() -> None:
    out = envelope([1.0, 2.0, 3.0], [0.52, 0.51, 0.50], [(0.40, 0.64), (0.39, 0.63), (0.38, 0.62)], 0.5,
                   higher_is_better=True)
    assert out is not None
    assert out["ci_status"] == ["fails at lowest", "passes at all tested"]
    assert out["ci"] == [None, 3.0]


@pytest.mark.parametrize("seed", range(20))
def test_mild_end_agrees_with_the_judge_at_every_tested_severity(seed: int) -> None:
    """The mild end reaches a tested severity exactly when the judge PASSES there and at every milder one."""
    rng = np.random.default_rng(seed)
    k = 5
    values = np.sort(rng.uniform(0.3, 0.8, k))[::-1]
    half = rng.uniform(0.01, 0.1, k)
    intervals = [(v - h, v + h) for v, h in zip(values, half)]
    sev = np.cumsum(rng.uniform(0.2, 1.0, k))
    crit = Criterion(metric="map", on="fog", at_least=0.55)
    out = envelope(sev, values, intervals, 0.55, higher_is_better=True)
    assert out is not None
    verdicts = [judge(float(v), crit, ci) for v, ci in zip(values, intervals)]
    for j in range(k):
        all_pass = all(v is True for v in verdicts[: j + 1])
        mild = out["ci"][0]
        reaches = mild is not None and mild >= sev[j] - 1e-12
        if out["ci_status"][0] == "passes at all tested":
            reaches = True
        assert reaches == all_pass, (j, verdicts, out)
    # the estimate lies between the interval's ends
    est = out["severity"]
    if est is not None and out["ci"][0] is not None:
        assert out["ci"][0] <= est + 1e-12
    if est is not None and out["ci"][1] is not None and out["ci_status"][1] == "interpolated":
        assert est <= out["ci"][1] + 1e-12


def _condition(corruption: str, values: list[float], name: str | None = None) -> ConditionEntry:
    name = name or corruption
    points = tuple(Point(f"{name}|{corruption}={v!r}", name, (Step(corruption, v),), f"{v:g}", severity=v) for v in values)
    return ConditionEntry(name, 0.1, "digital", (corruption,), "unit", points)


def test_axes_run_from_mild_to_harsh_per_side_of_the_identity() -> None:
    axes = severity_axes(_condition("brightness", [-0.3, -0.1, -0.2, 0.1, 0.3, 0.2]))
    assert [[p.severity for p in a] for a in axes] == [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]]
    # contrast: identity 1, harsher towards 0
    assert [p.severity for p in severity_axes(_condition("contrast", [0.2, 0.5, 0.3]))[0]] == [0.5, 0.3, 0.2]
    # JPEG quality has no identity: its level table runs 25 → 7, so harsher is lower
    assert [p.severity for p in severity_axes(_condition("jpeg_compression", [15, 50, 30]))[0]] == [50, 30, 15]


def test_axes_need_three_severities_on_one_side() -> None:
    assert severity_axes(_condition("brightness", [-0.3, -0.15, 0.15, 0.3])) == []
    assert severity_axes(_condition("gaussian_blur", [0.5, 1.0])) == []


def test_results_json_holds_the_envelope_of_a_small_run(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "p", n_images=8)
    text = DETECTION_SPEC.replace("severity: {levels: [1, 3]}", "severity: {levels: [1, 2, 3, 4]}").replace(
        "severity: {values: [2, 6]}", "severity: {values: [2, 4, 6]}")
    text = text.replace("  - {metric: rpc, at_least: 0.5}\n",
                        "  - {metric: rpc, at_least: 0.5}\n  - {id: vs-champion, metric: map, on: all, max_drop_vs_baseline: 0.2}\n")
    text = text.replace("{metric: map, on: clean, at_least: 0.3}",
                        "{metric: map, on: clean, at_least: 0.3, description: mAP on clean images}")
    spec.write_text(text)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    for m in data["models"]:
        rows = {(e["condition"], e["criterion"]): e for e in m["envelope"]}
        # the clean floor c1 is read at every severity of both 3+-severity conditions; the noise drop c2
        # only on noise; the composed night and aggregates (c3 rPC, c4 production score) never;
        # vs-champion only for the candidate, not for the baseline itself
        expected = {("gaussian_noise", "c1"), ("translate", "c1"), ("gaussian_noise", "c2")}
        if m["name"] != data["baseline"]:
            expected |= {("gaussian_noise", "vs-champion"), ("translate", "vs-champion")}
        assert set(rows) == expected
        for (cond, cid), e in rows.items():
            assert e["status"] in ("interpolated", "passes at all tested", "fails at lowest")
            assert e["confidence"] == 0.95 and len(e["ci"]) == 2 and len(e["ci_status"]) == 2
            assert e["tested"] == sorted(e["tested"])  # noise σ and translation px grow harsher upwards
            if cid != "c1":
                continue
            # described where it is read, not with the spec's wording for the clean images
            assert e["description"].startswith(f"map on {cond} ≥ 0.3") and "clean images" not in e["description"]
            # recompute the clean floor's crossing by hand from the per-point mAP in results.json
            maps = {c["severity"]: c["metrics"]["map"] for c in m["conditions"] if c["condition"] == cond}
            v = [maps[s] for s in e["tested"]]
            fails = [j for j, x in enumerate(v) if x < 0.3]
            if not fails:
                assert e["status"] == "passes at all tested" and e["severity"] == e["tested"][-1]
            elif fails[0] == 0:
                assert e["status"] == "fails at lowest" and e["severity"] is None
            else:
                j = fails[0]
                w = (v[j - 1] - 0.3) / (v[j - 1] - v[j])
                assert e["status"] == "interpolated"
                assert e["severity"] == pytest.approx(e["tested"][j - 1] + w * (e["tested"][j] - e["tested"][j - 1]))
