import numpy as np
import pytest

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.evaluation.metrics.bootstrap import resample_indices
from fieldready.evaluation.metrics.detection import STAT_KEYS, evaluate_detection
from fieldready.errors import DataError
from fieldready.evaluation.metrics.match_tables import build_match_tables, merge_match_tables

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


def _tied(detections, decimals: int = 1):
    """The same detections with scores rounded, so detections of one image share scores."""
    return [ImageDetections(d.image_id, d.boxes, np.round(d.scores, decimals), d.labels) for d in detections]


@pytest.mark.parametrize("seed", range(4))
def test_tied_scores_resample_equals_pycocotools_on_duplicated_images(seed: int) -> None:
    targets, detections = random_case(seed, n_images=10)
    detections = _tied(detections)
    assert any(len(np.unique(d.scores)) < len(d.scores) for d in detections)  # ties inside images
    ev = evaluate_detection(targets, detections, category_ids=CATEGORY_IDS)
    ref0 = pycoco_eval(targets, detections, CATEGORY_IDS)
    indices = np.vstack([np.arange(10), resample_indices(len(targets), resamples=4, seed=seed)])
    reps = {key: ev.replicates(indices, key) for key in STAT_KEYS}
    for key, value in zip(STAT_KEYS, ref0.stats):
        assert (value == -1 and ev.stats[key] is None) or ev.stats[key] == pytest.approx(value, abs=1e-12), key
    for b, row in enumerate(indices):
        ref = pycoco_eval(*_duplicated(targets, detections, row), CATEGORY_IDS)
        for key, value in zip(STAT_KEYS, ref.stats):
            got = reps[key][b]
            assert (value == -1 and np.isnan(got)) or got == pytest.approx(value, abs=1e-12), (b, key)
    for cat in CATEGORY_IDS:
        rep = ev.replicates(indices[1:], "ap", category_id=cat)
        for b, row in enumerate(indices[1:]):
            p = pycoco_eval(*_duplicated(targets, detections, row), CATEGORY_IDS).eval["precision"]
            s = p[:, :, sorted(CATEGORY_IDS).index(cat), 0, -1]
            assert (not (s > -1).any() and np.isnan(rep[b])) or rep[b] == pytest.approx(float(np.mean(s[s > -1])), abs=1e-12)


# Ground truth written in a COCO file as [x, y, w, h] and a detection (xyxy, as a model gives it) whose
# IoU with the box AS WRITTEN sits within an ulp of a COCO IoU threshold; x + w → xyxy → x2 − x moves
# w by an ulp and flips the match (checked below, so the cases keep testing what they claim).
_ON_THRESHOLD = [
    ([30.0, 42.3, 2.4, 7.1], [30.0, 42.3, 34.8, 49.4]),
    ([38.9, 13.5, 36.4, 26.7], [38.9, 13.5, 94.9, 40.2]),
    ([16.3, 85.2, 41.3, 20.2], [16.3, 85.2, 98.9, 105.4]),
    ([24.7, 80.6, 23.1, 44.0], [24.7, 80.6, 66.7, 124.6]),
    ([79.0, 46.5, 36.8, 28.7], [79.0, 46.5, 152.6, 75.2]),
    ([18.1, 47.0, 49.6, 1.8], [18.1, 47.0, 80.1, 48.8]),
    ([82.4, 64.4, 11.4, 7.4], [82.4, 64.4, 101.4, 71.8]),
    ([62.6, 55.2, 20.1, 36.9], [62.6, 55.2, 102.8, 92.1]),
]


def test_iou_on_a_threshold_matches_pycocotools_on_the_annotation_file(tmp_path) -> None:
    import contextlib
    import io
    import json

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from fieldready.data.coco import load_coco
    from fieldready.evaluation.metrics.coco_format import coco_detections, xyxy_to_xywh
    from fieldready.evaluation.metrics.match_tables import IOU_THRESHOLDS, bbox_iou

    thresholds = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)
    images, anns, dets = [], [], []
    for i, (gt, det) in enumerate(_ON_THRESHOLD, start=1):
        (tmp_path / f"{i}.png").write_bytes(b"")
        images.append({"id": i, "file_name": f"{i}.png", "width": 200, "height": 200})
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": gt, "area": gt[2] * gt[3], "iscrowd": 0})
        dets.append(ImageDetections(i, np.array([det]), np.array([0.5 + 0.01 * i]), np.array([1])))
        d = xyxy_to_xywh(np.array([det]))
        written = bbox_iou(d, np.array([gt]), np.zeros(1, bool))[0, 0]
        round_trip = bbox_iou(d, xyxy_to_xywh(np.array([[gt[0], gt[1], gt[0] + gt[2], gt[1] + gt[3]]])), np.zeros(1, bool))[0, 0]
        assert np.count_nonzero(written >= thresholds) != np.count_nonzero(round_trip >= thresholds)
    (tmp_path / "val.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "a"}]}))
    dataset = load_coco(tmp_path / "val.json", tmp_path)
    targets = [dataset.targets[r.image_id] for r in dataset.records]
    ev = evaluate_detection(targets, dets, category_ids=[1])
    with contextlib.redirect_stdout(io.StringIO()):
        gt_coco = COCO(str(tmp_path / "val.json"))
        ref = COCOeval(gt_coco, gt_coco.loadRes(coco_detections(dets)), "bbox")
        ref.evaluate()
        ref.accumulate()
        ref.summarize()
    identity = np.arange(len(targets))[None, :]
    for key, value in zip(STAT_KEYS, ref.stats):
        assert (value == -1 and ev.stats[key] is None) or ev.stats[key] == pytest.approx(value, abs=1e-12), key
        rep = ev.replicates(identity, key)[0]
        assert (value == -1 and np.isnan(rep)) or rep == pytest.approx(value, abs=1e-12), key


_TABLE_ARRAYS = ("image", "category", "score", "rank", "tp", "fp", "npig")


def _assert_tables_equal(merged, whole) -> None:  # noqa: ANN001
    assert merged.image_ids == whole.image_ids
    assert merged.category_ids == whole.category_ids
    assert merged.max_dets == whole.max_dets
    for name in _TABLE_ARRAYS:
        a, b = getattr(merged, name), getattr(whole, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b), name


def _split(targets, detections, rng, pieces: int):  # noqa: ANN001
    """The images cut into ``pieces`` random parts, each part's images (and its detections) in random order."""
    dets = {d.image_id: d for d in detections}
    part = rng.integers(0, pieces, size=len(targets))
    out = []
    for p in rng.permutation(pieces):
        ts = [targets[j] for j in rng.permutation(np.flatnonzero(part == p))]
        if ts:
            ds = [dets[t.image_id] for t in ts if t.image_id in dets]
            out.append((ts, [ds[j] for j in rng.permutation(len(ds))]))
    return out


def _rounded_scores(detections, rng):  # noqa: ANN001
    """Scores rounded to a few values (ties inside an image and across images), some images without detections."""
    out = []
    for d in detections:
        if rng.random() < 0.15:
            continue  # an image with no ImageDetections at all
        out.append(ImageDetections(d.image_id, d.boxes, np.round(d.scores * 4) / 4, d.labels))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_merged_pieces_equal_the_whole_build(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    targets, detections = random_case(seed, n_images=int(rng.integers(6, 20)), max_dets=int(rng.integers(3, 140)),
                                      crowd_rate=0.25)
    if seed % 2:
        detections = _rounded_scores(detections, rng)
    max_dets = (1, 10, 100) if seed < 3 else (1, 3, 7)
    whole = build_match_tables(targets, detections, category_ids=CATEGORY_IDS, max_dets=max_dets)
    for pieces in (1, 2, 5, len(targets)):
        built = [build_match_tables(ts, ds, category_ids=CATEGORY_IDS, max_dets=max_dets)
                 for ts, ds in _split(targets, detections, rng, pieces)]
        _assert_tables_equal(merge_match_tables(built), whole)
        # merged in two rounds, in another order: the same tables (the streaming evaluator merges as it goes)
        half = len(built) // 2
        if half:
            order = rng.permutation(len(built))
            first = merge_match_tables([built[j] for j in order[:half]])
            _assert_tables_equal(merge_match_tables([*(built[j] for j in order[half:]), first]), whole)


@pytest.mark.parametrize("seed", range(3))
def test_merged_pieces_with_their_own_categories_equal_the_whole_build(seed: int) -> None:
    """Pieces built on the categories their images hold (unlabelled data: the final list is known at the end)."""
    rng = np.random.default_rng(200 + seed)
    targets, detections = random_case(seed, n_images=14, crowd_rate=0.2)
    extra = [ImageDetections(d.image_id, d.boxes, d.scores, np.where(rng.random(len(d.labels)) < 0.1, 99, d.labels))
             for d in detections]  # a label outside the evaluated categories: dropped by both
    whole = build_match_tables(targets, extra, category_ids=CATEGORY_IDS)
    built = []
    for ts, ds in _split(targets, extra, rng, 4):
        own = sorted({int(c) for t in ts for c in t.labels} | {int(c) for d in ds for c in d.labels})
        built.append(build_match_tables(ts, ds, category_ids=own))
    _assert_tables_equal(merge_match_tables(built, category_ids=CATEGORY_IDS), whole)


def test_merge_refuses_an_image_in_two_pieces() -> None:
    targets, detections = random_case(0, n_images=4)
    a = build_match_tables(targets[:3], detections[:3], category_ids=CATEGORY_IDS)
    b = build_match_tables(targets[2:], detections[2:], category_ids=CATEGORY_IDS)
    with pytest.raises(DataError, match=str(targets[2].image_id)):
        merge_match_tables([a, b])


def test_sets_matched_in_one_call_come_apart_as_if_built_alone() -> None:
    """Several image sets renumbered set after set, matched at once, then cut by take_images (the stream's batches)."""
    from dataclasses import replace

    from fieldready.evaluation.metrics.match_tables import take_images

    sets = [random_case(seed, n_images=5 + seed, crowd_rate=0.2) for seed in range(3)]
    width = max(len(t) for t, _ in sets)
    all_t, all_d = [], []
    for k, (targets, detections) in enumerate(sets):
        order = sorted(range(len(targets)), key=lambda j: targets[j].image_id)
        new_id = {targets[j].image_id: k * width + r for r, j in enumerate(order)}
        all_t += [replace(t, image_id=new_id[t.image_id]) for t in targets]
        all_d += [ImageDetections(new_id[d.image_id], d.boxes, d.scores, d.labels) for d in detections]
    together = build_match_tables(all_t, all_d, category_ids=CATEGORY_IDS)
    start = 0
    for targets, detections in sets:
        alone = build_match_tables(targets, detections, category_ids=CATEGORY_IDS)
        part = take_images(together, start, start + len(targets), image_ids=alone.image_ids)
        _assert_tables_equal(merge_match_tables([part]), alone)
        start += len(targets)
