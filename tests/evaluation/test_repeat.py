"""The answers compared on repeated captures: the detector's operating point, and its documented fallback."""

from __future__ import annotations

import numpy as np

from fieldready.evaluation.metrics.operating_point import OperatingPoint
from fieldready.evaluation.repeat import DEFAULT_SCORE_THRESHOLD, _kept, score_threshold
from fieldready.spec.models import ModelSpec

ROWS = np.array([[0, 0, 10, 10, 0.9, 1], [5, 5, 15, 15, 0.4, 1], [20, 20, 30, 30, 0.6, 2]], dtype=np.float64)


def test_fallback_threshold_is_the_declared_one_else_the_default() -> None:
    plain = ModelSpec(name="m", kind="torchscript", path="m.pt")
    assert score_threshold(plain) == DEFAULT_SCORE_THRESHOLD == 0.5
    fixed = ModelSpec(name="m", kind="torchscript", path="m.pt", operating_point={"score_threshold": 0.3})
    assert score_threshold(fixed) == 0.3
    per_class = ModelSpec(name="m", kind="torchscript", path="m.pt",
                          operating_point={"score_threshold": {"circle": 0.95, "square": 0.5}})
    assert score_threshold(per_class, {1: "circle", 2: "square"}) == {1: 0.95, 2: 0.5}
    ruled = ModelSpec(name="m", kind="torchscript", path="m.pt", operating_point={"rule": "max_f1"})
    assert score_threshold(ruled) == DEFAULT_SCORE_THRESHOLD  # a rule needs clean labelled data: evaluation resolves it


def test_kept_detections_at_a_threshold_per_class_or_operating_point() -> None:
    assert _kept(ROWS, 0.5)[1].tolist() == [1, 2]
    assert _kept(ROWS, 0.3)[1].tolist() == [1, 1, 2]
    assert _kept(ROWS, {1: 0.95})[1].tolist() == [2]  # class 2 at the default 0.5
    op = OperatingPoint(thresholds={1: 0.35, 2: 0.7})
    boxes, labels = _kept(ROWS, op)
    assert labels.tolist() == [1, 1] and boxes.shape == (2, 4)
