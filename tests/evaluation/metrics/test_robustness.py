import math

import numpy as np
import pytest

from fieldready.errors import DataError
from fieldready.evaluation.metrics import robustness as rb


def test_mean_and_relative_performance() -> None:
    grid = {"blur": [0.4, 0.2], "noise": [0.3, 0.1]}
    assert rb.mean_performance(grid) == pytest.approx(0.25)
    assert rb.mean_performance(np.array([[0.4, 0.2], [0.3, 0.1]])) == pytest.approx(0.25)
    # unequal severity counts: mean of per-corruption means, not the grand mean
    assert rb.mean_performance({"a": [1.0], "b": [0.0, 0.0, 0.0]}) == pytest.approx(0.5)
    assert rb.relative_performance(0.25, 0.5) == pytest.approx(0.5)
    assert math.isnan(rb.relative_performance(0.25, 0.0))


def test_corruption_errors() -> None:
    model = {"blur": [0.2, 0.4], "noise": [0.3, 0.5]}
    base = {"blur": [0.3, 0.5], "noise": [0.4, 0.8]}
    assert rb.corruption_error(model["blur"], base["blur"]) == pytest.approx(0.6 / 0.8)
    assert rb.mce(model, base) == pytest.approx((0.6 / 0.8 + 0.8 / 1.2) / 2)
    # relative: clean errors 0.1 (model), 0.2 (baseline)
    rel_blur = ((0.2 - 0.1) + (0.4 - 0.1)) / ((0.3 - 0.2) + (0.5 - 0.2))
    rel_noise = ((0.3 - 0.1) + (0.5 - 0.1)) / ((0.4 - 0.2) + (0.8 - 0.2))
    assert rb.relative_corruption_error(
        model["blur"], base["blur"], model_clean=0.1, baseline_clean=0.2
    ) == pytest.approx(rel_blur)
    assert rb.relative_mce(model, base, model_clean=0.1, baseline_clean=0.2) == pytest.approx((rel_blur + rel_noise) / 2)
    with pytest.raises(DataError, match="baseline has no results"):
        rb.mce({"fog": [0.1]}, base)
    with pytest.raises(DataError, match="same severities"):
        rb.corruption_error([0.1, 0.2], [0.1])


def test_production_score() -> None:
    score = rb.production_score(0.8, {"fog": 0.4, "jpeg": 0.6, "unused": 0.0}, {"fog": 0.25, "jpeg": 0.5})
    assert score == pytest.approx(0.25 * 0.8 + 0.25 * 0.4 + 0.5 * 0.6)
    assert rb.production_score(0.8, {}, {}) == 0.8
    with pytest.raises(DataError, match="sum to"):
        rb.production_score(0.8, {"a": 0.1, "b": 0.1}, {"a": 0.7, "b": 0.6})
    with pytest.raises(DataError, match="no measured value"):
        rb.production_score(0.8, {}, {"a": 0.1})
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        rb.production_score(0.8, {"a": 0.1}, {"a": -0.1})


def test_family_summary() -> None:
    values = {"gaussian_noise": 0.2, "shot_noise": 0.4, "fog": 0.5, "mystery": 0.9}
    families = {"gaussian_noise": "noise", "shot_noise": "noise", "fog": "weather"}
    assert rb.family_summary(values, families) == pytest.approx({"noise": 0.3, "weather": 0.5, "other": 0.9})


def test_alexnet_constants_keep_the_paper_order() -> None:
    assert list(rb.ALEXNET_ERRORS) == [
        "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
        "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
        "jpeg_compression",
    ]  # fmt: skip
    assert list(rb.ALEXNET_ERRORS.values()) == [
        0.886428, 0.894468, 0.922640, 0.819880, 0.826268, 0.785948, 0.798360, 0.866816, 0.826572,
        0.819324, 0.564592, 0.853204, 0.646056, 0.717840, 0.606500,
    ]  # fmt: skip
    assert rb.IMAGENET_C_CORRUPTIONS == tuple(rb.ALEXNET_ERRORS)
    # AlexNet normalised by itself has mCE 1
    alex = {c: [e] for c, e in rb.ALEXNET_ERRORS.items()}
    assert rb.mce(alex, alex) == pytest.approx(1.0)


def test_metric_directions() -> None:
    from fieldready.evaluation.metrics import higher_is_better

    assert higher_is_better("map") and higher_is_better("rpc") and higher_is_better("top1")
    assert not higher_is_better("mce") and not higher_is_better("error") and not higher_is_better("ece")
    with pytest.raises(KeyError, match="known"):
        higher_is_better("nope")
