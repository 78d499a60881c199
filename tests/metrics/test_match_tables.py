import numpy as np
import pytest

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.metrics.bootstrap import resample_indices
from fieldready.metrics.detection import STAT_KEYS, evaluate_detection
from fieldready.metrics.match_tables import build_match_tables

from .cases import CATEGORY_IDS, random_case
from .reference import pycoco_eval


@pytest.mark.parametrize("seed", range(3))
def test_match_flags_equal_pycocotools_evalimgs(seed: int) -> None:
    targets, detections = random_case(seed)
    tables = build_match_tables(targets, detections, category_ids=CATEGORY_IDS)
    ref = pycoco_eval(targets, detections, CATEGORY_IDS)
    p = ref.params
    n_img, n_area = len(p.imgIds), len(p.areaRng)
    for k, _cat in enumerate(p.catIds):
        for a in range(n_area):
            for i in range(n_img):
                e = ref.evalImgs[k * n_area * n_img + a * n_img + i]
                sel = (tables.image == i) & (tables.category == k)
                order = np.argsort(tables.rank[sel])
                if e is None:
                    assert not sel.any() and tables.npig[i, k, a] == 0
                    continue
                dtm, dtig = e["dtMatches"] > 0, e["dtIgnore"].astype(bool)
                np.testing.assert_array_equal(tables.tp[sel][order][:, a, :].T, dtm & ~dtig)
                np.testing.assert_array_equal(tables.fp[sel][order][:, a, :].T, ~dtm & ~dtig)
                assert tables.npig[i, k, a] == np.count_nonzero(e["gtIgnore"] == 0)


@pytest.mark.parametrize("seed", range(4))
def test_identity_resample_equals_engine(seed: int) -> None:
    targets, detections = random_case(seed)
    ev = evaluate_detection(targets, detections, category_ids=CATEGORY_IDS)
    identity = np.arange(len(targets))[None, :]
    for key in STAT_KEYS:
        rep = ev.replicates(identity, key)[0]
        expected = ev.stats[key]
        assert (expected is None and np.isnan(rep)) or rep == pytest.approx(expected, abs=1e-12), key
    for cat in CATEGORY_IDS:
        for metric in ("ap", "ap50", "ar100"):
            rep = ev.replicates(identity, metric, category_id=cat)[0]
            expected = ev.per_class[cat][metric]
            assert (expected is None and np.isnan(rep)) or rep == pytest.approx(expected, abs=1e-12)


def _duplicated(targets, detections, row):
    """The resampled image set as separate images (new ids keep COCOeval's image order)."""
    by_id = {t.image_id: t for t in targets}
    dets = {d.image_id: d for d in detections}
    order = sorted(targets[j].image_id for j in row)
    new_t, new_d = [], []
    for new_id, old in enumerate(order, start=1):
        t = by_id[old]
        new_t.append(ImageTargets(new_id, t.boxes, t.labels, t.iscrowd, t.area, t.width, t.height))
        if old in dets:
            d = dets[old]
            new_d.append(ImageDetections(new_id, d.boxes, d.scores, d.labels))
    return new_t, new_d


@pytest.mark.parametrize("seed", range(3))
def test_resample_equals_pycocotools_on_duplicated_images(seed: int) -> None:
    targets, detections = random_case(seed, n_images=10)
    ev = evaluate_detection(targets, detections, category_ids=CATEGORY_IDS)
    indices = resample_indices(len(targets), resamples=3, seed=seed)
    reps = {key: ev.replicates(indices, key) for key in STAT_KEYS}
    for b, row in enumerate(indices):
        ref = pycoco_eval(*_duplicated(targets, detections, row), CATEGORY_IDS)
        for key, value in zip(STAT_KEYS, ref.stats):
            got = reps[key][b]
            assert (value == -1 and np.isnan(got)) or got == pytest.approx(value, abs=1e-12), (b, key)


def test_replicates_vary_and_pair() -> None:
    targets, detections = random_case(5, n_images=30)
    ev = evaluate_detection(targets, detections, category_ids=CATEGORY_IDS)
    idx = resample_indices(30, resamples=200, seed=1)
    reps = ev.replicates(idx)
    assert reps.shape == (200,) and np.nanstd(reps) > 0
    assert abs(np.nanmean(reps) - ev.stats["map"]) < 0.1
    np.testing.assert_array_equal(reps, ev.replicates(idx))  # cached tables give the same numbers
