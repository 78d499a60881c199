"""Production vs reference → frequencies, severities, the suggested block and the side by side, on measurements with known answers."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from ruamel.yaml import YAML

from fieldready.profile import profile_measurements
from fieldready.profile.measure import Measurement
from fieldready.profile.report import ProfileReport, profile_html, profile_json
from fieldready.profile.suggest import conditions_yaml, flow, profile_quantities, suggest


def _frame(i: int, rng: np.random.Generator, *, blur_add: float = 0.0, noise_add: float = 0.0, ev: float = 0.0,
           quality: float | None = None) -> Measurement:
    """A frame whose measurements follow a camera's spread, with known conditions added."""
    blur0 = float(rng.uniform(0.7, 1.0))
    noise0 = float(rng.uniform(0.002, 0.006))
    lum = float(np.exp(rng.normal(np.log(0.2), 0.5))) * 2.0**ev
    return Measurement(
        name=f"f{i}", kind="jpeg" if quality is not None else "lossless", width=128, height=128, scale=1.0,
        blur=math.sqrt(blur0**2 + blur_add**2), noise=math.sqrt(noise0**2 + noise_add**2), jpeg_quality=quality,
        luminance=lum, contrast=float(rng.uniform(0.3, 0.4)), chroma_r=float(rng.normal(0, 0.03)),
        chroma_b=float(rng.normal(0, 0.03)), haze=float(rng.uniform(0.1, 0.2)),
    )


@pytest.fixture(scope="module")
def measured() -> tuple[list[Measurement], list[Measurement]]:
    rng = np.random.default_rng(0)
    reference = [_frame(i, rng) for i in range(300)]
    production = []
    for i in range(400):
        if i < 80:  # 20 %: blur σ 1.5–3 px
            production.append(_frame(i, rng, blur_add=float(rng.uniform(1.5, 3.0))))
        elif i < 120:  # 10 %: noise σ 0.05–0.1
            production.append(_frame(i, rng, noise_add=float(rng.uniform(0.05, 0.1))))
        elif i < 160:  # 10 %: JPEG quality 20–40
            production.append(_frame(i, rng, quality=float(rng.integers(20, 41))))
        elif i < 200:  # 10 %: underexposed by 2–3 EV
            production.append(_frame(i, rng, ev=float(rng.uniform(-3.0, -2.0))))
        else:
            production.append(_frame(i, rng))
    return production, reference


@pytest.fixture(scope="module")
def profiles(measured) -> dict:
    production, reference = measured
    return profile_quantities(production, reference)


def _by_name(conditions: list[dict]) -> dict[str, dict]:
    return {c.get("name") or c.get("corruption") or c["preset"]: c for c in conditions}


def test_frequencies_and_severities_are_recovered(profiles) -> None:
    got = _by_name(suggest(profiles).conditions)
    assert got["gaussian_blur"]["frequency"] == pytest.approx(0.20, abs=0.03)
    assert got["gaussian_noise"]["frequency"] == pytest.approx(0.10, abs=0.03)
    assert got["jpeg_compression"]["frequency"] == pytest.approx(0.10, abs=0.01)
    # against 300 reference frames, the reference's own 5 % tail varies by ±1.5 points between samples
    assert got["underexposed"]["frequency"] == pytest.approx(0.10, abs=0.04)
    assert got["underexposed"]["corruption"] == "exposure"
    blur = got["gaussian_blur"]["severity"]["values"]
    assert 1.3 <= min(blur) and max(blur) <= 3.2 and blur == sorted(blur)  # mild to severe
    jpeg = got["jpeg_compression"]["severity"]["values"]
    assert 20 <= min(jpeg) and max(jpeg) <= 40 and jpeg == sorted(jpeg, reverse=True)  # mild (high quality) first
    ev = got["underexposed"]["severity"]["values"]
    assert all(-3.5 <= v <= -1.5 for v in ev)
    # nothing else is in the frames
    assert not {"overexposed", "low_contrast", "high_contrast", "warm_cast", "cool_cast"} & set(got)


def test_compressed_frames_are_not_counted_as_blur(measured) -> None:
    production, reference = measured
    # the JPEG frames look blurry too (their edges are smoothed): they must not raise the blur frequency
    blurry_jpeg = [Measurement(**{**m.as_dict(), "blur": 2.5}) if m.kind == "jpeg" else m for m in production]
    _, suggestion = profile_measurements(blurry_jpeg, reference)
    assert _by_name(suggestion.conditions)["gaussian_blur"]["frequency"] == pytest.approx(0.20, abs=0.03)
    profiles, _ = profile_measurements(blurry_jpeg, reference)
    assert "count as jpeg_compression" in profiles["blur"].note


def test_a_production_like_the_reference_suggests_nothing_much() -> None:
    rng = np.random.default_rng(1)
    reference = [_frame(i, rng) for i in range(300)]
    production = [_frame(i, rng) for i in range(300)]
    _, suggestion = profile_measurements(production, reference)
    assert sum(c["frequency"] for c in suggestion.conditions) <= 0.06


DECLARED = [
    {"corruption": "gaussian_blur", "severity": {"min": 0.5, "max": 2.0, "steps": 4}, "frequency": 0.05},
    {"corruption": "brightness", "severity": {"values": [-0.3, 0.3]}, "frequency": 0.06},
    {"corruption": "translate", "severity": {"values": [1, 2]}, "frequency": 0.05},
    {"name": "night", "compose": [{"corruption": "exposure", "severity": -2.0}, {"corruption": "gaussian_noise", "severity": 0.08}],
     "frequency": 0.05},
    {"preset": "imagenet-c", "frequency": 0.1},
]


def test_side_by_side_with_declared_conditions(profiles) -> None:
    suggestion = suggest(profiles, declared=DECLARED)
    rows = {c.name: c for c in suggestion.comparisons}
    assert rows["gaussian_blur"].measured and rows["gaussian_blur"].declared_frequency == 0.05
    assert rows["gaussian_blur"].frequency == pytest.approx(0.20, abs=0.03)
    assert rows["night"].frequency is not None and rows["night"].frequency < 0.03  # dark frames are not noisy ones
    assert "blurrier than the blurriest 5 % of the reference" in rows["gaussian_blur"].sentence
    assert rows["brightness"].measured and "darker" in rows["brightness"].sentence and "brighter" in rows["brightness"].sentence
    assert not rows["translate"].measured and "kept as declared" in rows["translate"].sentence
    assert not rows["imagenet-c"].measured
    assert rows["night"].measured and "both darker and noisier" in rows["night"].sentence
    # the block keeps every declared condition in order, then what the spec does not declare
    names = [c.get("name") or c.get("corruption") or c.get("preset") for c in suggestion.conditions]
    assert names[:5] == ["gaussian_blur", "brightness", "translate", "night", "imagenet-c"]
    assert {"gaussian_noise", "jpeg_compression"} <= set(names[5:])
    assert "underexposed" not in names  # brightness already stands for the dark frames
    kept = _by_name(suggestion.conditions)
    assert kept["translate"] == DECLARED[2]
    assert kept["brightness"]["severity"] == DECLARED[1]["severity"]  # declared in another unit: severities kept
    assert kept["gaussian_blur"]["severity"]["values"] != [0.5, 1.0, 1.5, 2.0]  # measured in its own unit: replaced
    assert sum(c["frequency"] for c in suggestion.conditions) <= 1.0


def test_frequencies_are_scaled_when_they_would_exceed_one(profiles) -> None:
    declared = [{"corruption": "vflip", "severity": 1.0, "frequency": 0.9}, {"corruption": "gaussian_blur", "severity": 1.0, "frequency": 0.05}]
    suggestion = suggest(profiles, declared=declared)
    assert sum(c["frequency"] for c in suggestion.conditions) <= 1.0 + 1e-9
    assert _by_name(suggestion.conditions)["vflip"]["frequency"] == 0.9
    assert suggestion.notes and "scaled" in suggestion.notes[0]


def test_yaml_block_round_trips(profiles) -> None:
    suggestion = suggest(profiles, declared=DECLARED)
    text = conditions_yaml(suggestion, header=["a header: with a colon"])
    data = YAML(typ="safe").load(text)
    assert data["conditions"] == json.loads(json.dumps(suggestion.conditions))
    assert text.startswith("# a header")


def test_flow_quotes_what_yaml_would_misread() -> None:
    yaml = YAML(typ="safe")
    for value in ["yes", "on", "null", "a: b", "1.5", "-x", "#c", "quote\"d", "ok_name-1.2"]:
        assert yaml.load(f"k: {flow(value)}")["k"] == value
    assert flow({"a": [1, 2.5, 3.0], "b": True}) == "{a: [1, 2.5, 3], b: true}"


def test_empty_suggestion_is_valid_yaml() -> None:
    rng = np.random.default_rng(2)
    reference = [_frame(i, rng) for i in range(50)]
    _, suggestion = profile_measurements(reference, reference)
    assert suggestion.conditions == []
    assert YAML(typ="safe").load(conditions_yaml(suggestion)) == {"conditions": []}


def test_json_is_strict_and_html_self_contained(measured, profiles) -> None:
    production, reference = measured
    suggestion = suggest(profiles, declared=DECLARED)
    report = ProfileReport("frames/", "ref/", production, reference, profiles, suggestion, "spec.yaml")
    data = profile_json(report)
    text = json.dumps(data, allow_nan=False)  # raises on NaN/inf
    assert json.loads(text)["frames"]["count"] == 400
    blur = data["quantities"]["blur"]
    assert sum(blur["histogram"]["production"]) == 400 and sum(blur["histogram"]["reference"]) == 300
    assert blur["sides"][0]["method"] == "mixture" and blur["sides"][0]["mixture_gain"] > 6
    assert data["quantities"]["jpeg"]["sides"][0]["method"] == "tail"  # read from the files, counted
    assert data["per_frame"][0]["conditions"] == ["gaussian_blur"]
    html = profile_html(report, conditions_yaml(suggestion))
    assert html.count("<svg") == len(profiles)
    assert not any(tag in html for tag in ("<script", "<link", "src=", "@import"))  # nothing fetched
    assert "declared 5 % gaussian_blur" in html


def _scene(i: int, rng: np.random.Generator, *, factor: float = 1.0) -> Measurement:
    """A frame of very different scenes: contrast spread over a factor of about 20 (as photographs of anything)."""
    return Measurement(
        name=f"s{i}", kind="lossless", width=128, height=128, scale=1.0, blur=1.0, noise=0.004, jpeg_quality=None,
        luminance=0.2, contrast=float(np.exp(rng.normal(np.log(0.3), 0.9))) * factor, chroma_r=0.0, chroma_b=0.0, haze=0.1,
    )


def test_a_contrast_loss_hidden_in_the_scenes_spread_is_counted_by_the_mixture() -> None:
    # 0.3–0.5× contrast moves most frames only within the reference's 5th–95th range: a count of
    # frames beyond would find about a fifth of them; the mixture's weight finds them all.
    rng = np.random.default_rng(3)
    reference = [_scene(i, rng) for i in range(300)]
    clean = [_scene(i, rng) for i in range(300)]
    hit = [_scene(i, rng, factor=float(rng.uniform(0.3, 0.5))) for i in range(90)]
    side = next(sp for sp in profile_quantities(clean[:210] + hit, reference)["contrast"].sides if sp.side.name == "low_contrast")
    assert side.frequency == pytest.approx(0.3, abs=0.06)
    assert 0.25 <= side.severity[1] <= 0.6
    none = next(sp for sp in profile_quantities(clean, reference)["contrast"].sides if sp.side.name == "low_contrast")
    assert none.frequency == 0.0


def test_frames_with_a_colour_cast_are_not_counted_as_underexposed() -> None:
    # The catalogue's 3000 K cast also dims a frame by about 0.9 EV; that dimming is the cast's, not an exposure.
    from fieldready.profile import estimators as est

    gr, gb = est.log_gains(3000.0)
    rng = np.random.default_rng(4)

    def frame(i: int, cast: bool) -> Measurement:
        lum = float(np.exp(rng.normal(np.log(0.2), 1.2))) * (2.0**-0.88 if cast else 1.0)
        return Measurement(
            name=f"c{i}", kind="lossless", width=128, height=128, scale=1.0, blur=1.0, noise=0.004, jpeg_quality=None,
            luminance=lum, contrast=0.3, chroma_r=float(rng.normal(0, 0.05)) + (gr if cast else 0.0),
            chroma_b=float(rng.normal(0, 0.05)) + (gb if cast else 0.0), haze=0.1,
        )

    reference = [frame(i, False) for i in range(300)]
    production = [frame(i, i < 90) for i in range(300)]
    profiles = profile_quantities(production, reference)
    warm = next(sp for sp in profiles["colour"].sides if sp.side.name == "warm_cast")
    dark = next(sp for sp in profiles["exposure"].sides if sp.side.name == "underexposed")
    assert warm.frequency == pytest.approx(0.3, abs=0.03)
    assert dark.frequency < 0.03
    assert "colour cast" in profiles["exposure"].note


def _wide(i: int, rng: np.random.Generator, *, blur_add: float = 0.0) -> Measurement:
    """A frame from scenes whose blur varies so widely that no blur on the mixture's grid (≤ 8 px) leaves their range."""
    blur0 = float(np.exp(rng.normal(0.0, 1.4)))
    return Measurement(
        name=f"w{i}", kind="lossless", width=128, height=128, scale=1.0, blur=math.sqrt(blur0**2 + blur_add**2),
        noise=0.004, jpeg_quality=None, luminance=0.2, contrast=0.3, chroma_r=0.0, chroma_b=0.0, haze=0.1,
    )


def test_an_excess_the_mixture_cannot_follow_is_counted_when_clean_frames_would_rarely_show_it() -> None:
    # 15 % of the frames blurred by 14–18 px: beyond the reference's range, but past the mixture's grid;
    # the count of frames beyond is far more than two finite sets of clean frames show (exceedance test).
    rng = np.random.default_rng(6)
    reference = [_wide(i, rng) for i in range(300)]
    production = [_wide(i, rng, blur_add=float(rng.uniform(14, 18)) if i < 60 else 0.0) for i in range(400)]
    side = profile_quantities(production, reference)["blur"].sides[0]
    assert side.method == "tail" and not side.gain >= 6
    assert side.frequency == pytest.approx(0.15, abs=0.04)
    assert 12 <= side.severity[1] <= 20


def test_clean_frames_get_no_condition_from_the_count() -> None:
    # the same scenes without the blur, over several draws: no side is taken from the count alone
    for seed in range(5):
        rng = np.random.default_rng(20 + seed)
        reference = [_wide(i, rng) for i in range(300)]
        production = [_wide(i, rng) for i in range(400)]
        profiles = profile_quantities(production, reference)
        assert not [sp.side.name for k, qp in profiles.items() for sp in qp.sides if k not in ("jpeg", "haze") and sp.method == "tail"]


def _haze(production: list[Measurement], reference: list[Measurement]):  # noqa: ANN202
    return profile_quantities(production, reference)["haze"].sides[0]


def test_haze_counts_only_a_significant_excess() -> None:
    # Clean sets differ by chance in their haziest frames: 160 vs 400 frames leave 3–9 % beyond the
    # reference's 95th percentile. Over 6 clean draws no haze is suggested; 15 % veiled frames are found.
    rng = np.random.default_rng(3)
    excess = []
    for draw in range(6):
        reference = [_frame(i, rng) for i in range(160)]
        production = [_frame(i, rng) for i in range(400)]
        ref = np.array([m.haze for m in reference])
        share = float(np.mean(np.array([m.haze for m in production]) > np.percentile(ref, 95)))
        excess.append(share - float(np.mean(ref > np.percentile(ref, 95))))
        side = _haze(production, reference)
        assert side.frequency == 0.0 and not side.membership.any(), f"draw {draw}"  # nor does a composition count them
    assert max(excess) > 0.01  # the draws did show an excess beyond, which the ungated count would have suggested
    reference = [_frame(i, rng) for i in range(160)]
    production = [_frame(i, rng) for i in range(400)]
    production[:60] = [dataclasses.replace(m, haze=m.haze + 0.3) for m in production[:60]]
    side = _haze(production, reference)
    assert side.frequency == pytest.approx(0.15, abs=0.03)
    assert side.flagged[:60].mean() > 0.9 and side.flagged[60:].mean() < 0.05
