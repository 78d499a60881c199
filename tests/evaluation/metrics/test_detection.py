import numpy as np
import pytest

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.errors import DataError
from fieldready.evaluation.metrics.detection import COCO_METRICS as METRICS
from fieldready.evaluation.metrics.detection import STAT_KEYS, evaluate_detection

from .cases import CATEGORY_IDS, random_case
from .reference import pycoco_eval


def _close(ours, ref: float) -> bool:
    if ref == -1:
        return ours is None
    return ours is not None and abs(ours - ref) <= 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_matches_pycocotools_on_random_cases(seed: int) -> None:
    targets, detections = random_case(seed)
    ours = evaluate_detection(targets, detections, category_ids=CATEGORY_IDS)
    ref = pycoco_eval(targets, detections, CATEGORY_IDS)
    for key, value in zip(STAT_KEYS, ref.stats):
        assert _close(ours.stats[key], value), (key, ours.stats[key], value)
    p = ref.eval["precision"]
    r = ref.eval["recall"]
    for k, cat in enumerate(sorted(CATEGORY_IDS)):
        s = p[:, :, k, 0, -1]
        ref_ap = float(np.mean(s[s > -1])) if (s > -1).any() else -1
        assert _close(ours.per_class[cat]["ap"], ref_ap)
        s50 = p[0, :, k, 0, -1]
        assert _close(ours.per_class[cat]["ap50"], float(np.mean(s50[s50 > -1])) if (s50 > -1).any() else -1)
        rr = r[:, k, 0, -1]
        assert _close(ours.per_class[cat]["ar100"], float(np.mean(rr[rr > -1])) if (rr > -1).any() else -1)
    # class 12 has ground truth but is never detected: AP 0, not "no data"
    assert ours.per_class[12]["ap"] == 0.0


def test_no_detections_and_no_data() -> None:
    targets = [ImageTargets(1, [[0, 0, 10, 10]], [1]), ImageTargets(2, np.zeros((0, 4)), [])]
    ev = evaluate_detection(targets, [], category_ids=[1, 2])
    assert ev.stats["map"] == 0.0
    assert ev.stats["ap_medium"] is None and ev.stats["ap_large"] is None  # no such objects: no data
    assert ev.per_class[2]["ap"] is None


def test_custom_max_dets_match_reference() -> None:
    targets, detections = random_case(11)
    ours = evaluate_detection(targets, detections, category_ids=CATEGORY_IDS, max_dets=(2, 5, 20))
    ref = pycoco_eval(targets, detections, CATEGORY_IDS, max_dets=(2, 5, 20))
    # pycocotools' summarize hard-codes maxDets=100 (→ -1 here); ours reads max_dets[2]: compare arrays
    np.testing.assert_allclose(ours.precision, ref.eval["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.recall, ref.eval["recall"], rtol=0, atol=1e-12)
    s = ref.eval["precision"][:, :, :, 0, -1]
    assert abs(ours.stats["map"] - float(np.mean(s[s > -1]))) <= 1e-12


def test_rejects_detections_on_unknown_images() -> None:
    targets = [ImageTargets(1, [[0, 0, 10, 10]], [1])]
    dets = [ImageDetections(5, [[0, 0, 10, 10]], [0.9], [1])]
    with pytest.raises(DataError, match="without ground truth"):
        evaluate_detection(targets, dets, category_ids=[1])


def test_metric_metadata_covers_stats() -> None:
    assert set(METRICS) == set(STAT_KEYS)
    assert all(info.higher_is_better for info in METRICS.values())
