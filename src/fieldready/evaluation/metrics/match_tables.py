"""Per-image COCO match tables, built once, and the vectorised bootstrap of the AP family over them.

faster-coco-eval keeps its per-image results (``evaluateImg``) in an opaque C++ structure, so the
tables are rebuilt here with pycocotools' exact ``evaluateImg`` rules — the same bbox IoU arithmetic
(crowd: intersection over detection area), greedy matching in score order per IoU threshold,
preference for non-ignored ground truth, ties to the later box, unmatched out-of-range detections
ignored — vectorised over IoU thresholds, area ranges and (image, category) pairs. Tests check the
flags against pycocotools' ``evalImgs`` and the AP of the identity resample against the engine.

Resampling: a row of ``indices[B, n]`` draws images; an image drawn k times counts k times, as if
its k copies were separate images placed together in COCOeval's image order. COCOeval's
precision/recall are then recomputed per row from weighted cumulative sums:
q_r = max{precision(e) : e a true positive with recall(e) ≥ r}, AP = mean_r q_r.
Ties: COCOeval sorts a category's detections by score with a stable sort over (image, rank), so
the copies of one detection are adjacent and weighting it by k is exact — except for a run of
detections of ONE image sharing a score, whose copies interleave (copy 1's run, then copy 2's, …).
Such a run is laid out once per copy, copy j weighted by [image drawn ≥ j times] (a "virtual
image"), which reproduces COCOeval's order exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fieldready.data.types import ImageDetections, ImageTargets
from fieldready.errors import DataError
from fieldready.evaluation.metrics.bootstrap import check_indices
from fieldready.evaluation.metrics.coco_format import IOU_THRESHOLDS, CocoSummary, check_image_sets, target_xywh, xyxy_to_xywh
from fieldready.evaluation.metrics.registry import MetricDef, metrics_for

__all__ = [
    "AREA_RANGES",
    "MatchTables",
    "build_match_tables",
    "merge_match_tables",
    "take_images",
    "table_replicates",
    "resample_counts",
    "bbox_iou",
]

#: pycocotools' area ranges, in its order: all, small, medium, large.
AREA_RANGES: np.ndarray = np.array([[0.0, 1e5**2], [0.0, 32.0**2], [32.0**2, 96.0**2], [96.0**2, 1e5**2]])
RECALL_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.0, 101)
_GROUP_COLS = 2048  # padded columns per segment group (more only for one longer segment)
_BLOCK_ELEMS = 1 << 18  # columns × resample rows per vectorised block (cache-sized float64 arrays)
_MIN_ROWS = 128  # ... but at least this many rows, so the row-wise scans of a long segment stay wide
# _count_thresholds_at_most's fast path needs np.linspace's recall thresholds to be exactly j * 0.01
_THRESHOLDS_ARE_J_HUNDREDTHS = bool(np.array_equal(RECALL_THRESHOLDS, np.arange(101) * 0.01))


@dataclass
class MatchTables:
    """Every detection of every (image, category) pair with its COCO match flags.

    Entry arrays (length E, one per detection among the top ``max_dets[-1]`` of its pair):
    ``image`` (position in sorted image ids), ``category`` (index into ``category_ids``),
    ``score``, ``rank`` (0 = highest score in its pair), ``tp[E, A, T]`` (matched, not ignored),
    ``fp[E, A, T]`` (unmatched, not ignored). ``npig[n, K, A]`` counts non-ignored ground truth.
    """

    image_ids: list[int]
    category_ids: list[int]
    max_dets: tuple[int, ...]
    image: np.ndarray
    category: np.ndarray
    score: np.ndarray
    rank: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    npig: np.ndarray
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict, repr=False)

    @property
    def n_images(self) -> int:
        return len(self.image_ids)


def bbox_iou(dt: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of xywh boxes ``dt[..., D, 4]`` × ``gt[..., G, 4]`` with pycocotools' exact float arithmetic.

    For a crowd ground truth the union is the detection's area (pycocotools' ``iscrowd`` rule).
    """
    d = dt[..., :, None, :]
    g = gt[..., None, :, :]
    w = np.minimum(d[..., 2] + d[..., 0], g[..., 2] + g[..., 0]) - np.maximum(d[..., 0], g[..., 0])
    h = np.minimum(d[..., 3] + d[..., 1], g[..., 3] + g[..., 1]) - np.maximum(d[..., 1], g[..., 1])
    da = d[..., 2] * d[..., 3]
    ga = g[..., 2] * g[..., 3]
    inter = w * h
    union = np.where(crowd[..., None, :], da, da + ga - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w > 0) & (h > 0), iou, 0.0)


def _last_argmax(values: np.ndarray) -> np.ndarray:
    """Index of the maximum along the last axis, the last one on ties (pycocotools' ``>=`` update)."""
    return values.shape[-1] - 1 - np.argmax(values[..., ::-1], axis=-1)


def _match_bucket(
    ious: np.ndarray, n_dets: np.ndarray, ignore: np.ndarray, crowd: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy COCO matching of P pairs at once; pairs sorted by ``n_dets`` descending.

    ``ious[P, D, G]`` (-1 for padding), ``ignore[P, A, G]``, ``crowd[P, G]``. Returns
    ``matched[P, A, T, D]`` and ``matched_ignored[P, A, T, D]`` (matched to an ignored ground truth).
    """
    p, dmax, g = ious.shape
    a, t = ignore.shape[1], len(thresholds)
    gt_taken = np.zeros((p, a, t, g), dtype=bool)
    matched = np.zeros((p, a, t, dmax), dtype=bool)
    matched_ign = np.zeros((p, a, t, dmax), dtype=bool)
    thr = np.minimum(thresholds, 1 - 1e-10)[None, None, :, None]
    for d in range(dmax):
        na = int(np.count_nonzero(n_dets > d))
        iou = ious[:na, d, None, None, :]
        cand = (iou >= thr) & (~gt_taken[:na] | crowd[:na, None, None, :])
        ign = ignore[:na, :, None, :]
        c_n = cand & ~ign
        c_i = cand & ign
        has_n = c_n.any(-1)
        has_i = c_i.any(-1)
        best = np.where(has_n, _last_argmax(np.where(c_n, iou, -1.0)), _last_argmax(np.where(c_i, iou, -1.0)))
        hit = has_n | has_i
        pi, ai, ti = np.nonzero(hit)
        gt_taken[pi, ai, ti, best[pi, ai, ti]] = True
        matched[:na, :, :, d] = hit
        matched_ign[:na, :, :, d] = ~has_n & has_i
    return matched, matched_ign


def _group_positions(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted ``keys``: unique keys, start of each group, and each element's position in its group."""
    uniq, start, counts = np.unique(keys, return_index=True, return_counts=True)
    pos = np.arange(len(keys)) - np.repeat(start, counts)
    return uniq, start, pos


def build_match_tables(
    targets: list[ImageTargets],
    detections: list[ImageDetections],
    *,
    category_ids: list[int],
    max_dets: tuple[int, ...] = (1, 10, 100),
) -> MatchTables:
    """Match every detection once, at all 10 IoU thresholds and 4 area ranges, as COCOeval does."""
    check_image_sets(targets, detections)
    cats = sorted(int(c) for c in set(category_ids))
    n_cat = len(cats)
    order = sorted(range(len(targets)), key=lambda j: targets[j].image_id)
    image_ids = [int(targets[j].image_id) for j in order]
    pos_of = {iid: i for i, iid in enumerate(image_ids)}
    cat_index = np.full(max(cats) + 1 if cats else 1, -1, dtype=np.int64)
    cat_index[cats] = np.arange(n_cat)
    n_area = len(AREA_RANGES)

    def _cat(labels: np.ndarray) -> np.ndarray:
        lab = np.asarray(labels, dtype=np.int64)
        ok = (lab >= 0) & (lab < len(cat_index))
        out = np.full(len(lab), -1, dtype=np.int64)
        out[ok] = cat_index[lab[ok]]
        return out

    # ground truth, in annotation order (image order of ``targets``, then box order)
    # per-image arrays are joined first and converted once (a few numpy calls per image, not per step)
    g_img = np.repeat(np.array([pos_of[t.image_id] for t in targets], dtype=np.int64),
                      np.array([len(t.labels) for t in targets], dtype=np.int64))
    g_cat = _cat(np.concatenate([np.asarray(t.labels, dtype=np.int64) for t in targets] + [np.zeros(0, np.int64)]))
    g_box = np.concatenate([target_xywh(t) for t in targets] + [np.zeros((0, 4))])
    g_area = np.concatenate([t.area for t in targets] + [np.zeros(0)])
    g_crowd = np.concatenate([t.iscrowd for t in targets] + [np.zeros(0, bool)]).astype(bool)
    keep = g_cat >= 0
    g_img, g_cat, g_box, g_area, g_crowd = g_img[keep], g_cat[keep], g_box[keep], g_area[keep], g_crowd[keep]
    g_ignore = g_crowd[:, None] | (g_area[:, None] < AREA_RANGES[:, 0]) | (g_area[:, None] > AREA_RANGES[:, 1])
    npig = np.zeros((len(image_ids), n_cat, n_area), dtype=np.int64)
    np.add.at(npig, (g_img, g_cat), (~g_ignore).astype(np.int64))

    # detections: per (image, category) pair sorted by score (stable), cut to max_dets[-1]
    d_img = np.repeat(np.array([pos_of[d.image_id] for d in detections], dtype=np.int64),
                      np.array([len(d.scores) for d in detections], dtype=np.int64))
    d_cat = _cat(np.concatenate([np.asarray(d.labels, dtype=np.int64) for d in detections] + [np.zeros(0, np.int64)]))
    d_box = xyxy_to_xywh(np.concatenate([np.asarray(d.boxes, dtype=np.float64).reshape(-1, 4) for d in detections]
                                        + [np.zeros((0, 4))]))
    d_score = np.concatenate([d.scores for d in detections] + [np.zeros(0)])
    if not np.isfinite(d_score).all() or not np.isfinite(d_box).all():
        raise DataError("detections contain NaN or infinite boxes or scores; check the model adapter's output")
    keep = d_cat >= 0
    d_img, d_cat, d_box, d_score = d_img[keep], d_cat[keep], d_box[keep], d_score[keep]
    d_key = d_img * n_cat + d_cat
    srt = np.lexsort((np.arange(len(d_key)), -d_score, d_key))
    d_img, d_cat, d_box, d_score, d_key = d_img[srt], d_cat[srt], d_box[srt], d_score[srt], d_key[srt]
    _, _, d_rank = _group_positions(d_key)
    keep = d_rank < max_dets[-1]
    d_img, d_cat, d_box, d_score, d_key, d_rank = (x[keep] for x in (d_img, d_cat, d_box, d_score, d_key, d_rank))
    d_area = d_box[:, 2] * d_box[:, 3]
    n_det = len(d_key)

    tp = np.zeros((n_det, n_area, len(IOU_THRESHOLDS)), dtype=bool)
    fp = np.zeros_like(tp)
    d_out = (d_area[:, None] < AREA_RANGES[:, 0]) | (d_area[:, None] > AREA_RANGES[:, 1])  # [E, A]

    # pairs with ground truth need matching; the rest are unmatched (fp unless out of range)
    g_key = g_img * n_cat + g_cat
    gsrt = np.argsort(g_key, kind="stable")
    g_key_s = g_key[gsrt]
    g_uniq, g_start, g_pos = _group_positions(g_key_s)
    g_count = np.diff(np.append(g_start, len(g_key_s)))
    d_uniq, d_start, _ = _group_positions(d_key)
    d_count = np.diff(np.append(d_start, n_det))
    has_gt = np.isin(d_uniq, g_uniq)
    matched = np.zeros((n_det, n_area, len(IOU_THRESHOLDS)), dtype=bool)
    matched_ign = np.zeros_like(matched)

    pairs = np.nonzero(has_gt)[0]  # indices into d_uniq
    pair_g = np.searchsorted(g_uniq, d_uniq[pairs])
    g_pad = 1 << np.ceil(np.log2(np.maximum(g_count[pair_g], 1))).astype(np.int64)
    for bucket in np.unique(g_pad):
        sel = pairs[g_pad == bucket]
        sel_g = pair_g[g_pad == bucket]
        by_d = np.argsort(-d_count[sel], kind="stable")
        sel, sel_g = sel[by_d], sel_g[by_d]
        p, dmax, gmax = len(sel), int(d_count[sel].max()), int(bucket)
        # padded det / gt index grids into the sorted arrays (-1 = padding)
        di = d_start[sel][:, None] + np.arange(dmax)[None, :]
        dvalid = np.arange(dmax)[None, :] < d_count[sel][:, None]
        gi = g_start[sel_g][:, None] + np.arange(gmax)[None, :]
        gvalid = np.arange(gmax)[None, :] < g_count[sel_g][:, None]
        di = np.where(dvalid, di, 0)
        gi = gsrt[np.where(gvalid, gi, 0)]
        crowd = g_crowd[gi] & gvalid
        ious = bbox_iou(d_box[di], g_box[gi], crowd)
        ious = np.where(dvalid[:, :, None] & gvalid[:, None, :], ious, -1.0)
        ignore = np.transpose(g_ignore[gi], (0, 2, 1)) | ~gvalid[:, None, :]
        m, mi = _match_bucket(ious, d_count[sel], ignore, crowd, IOU_THRESHOLDS)
        flat = di[dvalid]
        matched[flat] = np.transpose(m, (0, 3, 1, 2))[dvalid]
        matched_ign[flat] = np.transpose(mi, (0, 3, 1, 2))[dvalid]
    ignored = matched_ign | (~matched & d_out[:, :, None])
    tp = matched & ~ignored
    fp = ~matched & ~ignored
    return MatchTables(
        image_ids=image_ids,
        category_ids=cats,
        max_dets=tuple(int(x) for x in max_dets),
        image=d_img,
        category=d_cat,
        score=d_score,
        rank=d_rank,
        tp=tp,
        fp=fp,
        npig=npig,
    )


def merge_match_tables(
    pieces: Sequence[MatchTables], *, category_ids: Sequence[int] | None = None
) -> MatchTables:
    """The tables ``build_match_tables`` gives on the union of the pieces' images, from tables built on parts.

    Matching is per (image, category) pair, so tables built batch by batch hold the same entries; they
    are re-indexed to the union's sorted image ids and put in the whole build's entry order (image,
    then each image's own order, kept from its piece), so every array equals the whole build's, bit
    for bit. ``category_ids`` (default: the union of the pieces') may leave out some of a piece's:
    their entries are dropped, as the whole build drops them. A piece must have been built with every
    kept category its images hold (a category it lacks counts nothing there).
    """
    if not pieces:
        raise ValueError("merge_match_tables needs at least one piece")
    max_dets = pieces[0].max_dets
    if any(p.max_dets != max_dets for p in pieces):
        raise ValueError(f"pieces built with different max_dets: {sorted({p.max_dets for p in pieces})}")
    pool = {int(c) for p in pieces for c in p.category_ids} if category_ids is None else {int(c) for c in category_ids}
    cats = np.array(sorted(pool), dtype=np.int64)
    piece_ids = [np.asarray(p.image_ids, dtype=np.int64) for p in pieces]
    image_ids = np.sort(np.concatenate(piece_ids))
    repeated = image_ids[1:][image_ids[1:] == image_ids[:-1]]
    if len(repeated):
        raise DataError(f"image {int(repeated[0])} is in more than one piece of match tables; build each image's tables once")
    n_area, n_iou = len(AREA_RANGES), len(IOU_THRESHOLDS)
    npig = np.zeros((len(image_ids), len(cats), n_area), dtype=np.int64)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("image", "category", "score", "rank", "tp", "fp")}
    for piece, ids in zip(pieces, piece_ids):
        to_image = np.searchsorted(image_ids, ids)
        own = np.asarray(piece.category_ids, dtype=np.int64)
        kept = np.isin(own, cats)
        to_cat = np.where(kept, np.searchsorted(cats, own), -1)  # the piece's category index → the merged one
        npig[to_image[:, None], to_cat[kept][None, :]] = piece.npig[:, kept]
        cat = to_cat[piece.category] if len(own) else np.zeros(0, dtype=np.int64)
        keep = cat >= 0
        parts["image"].append(to_image[piece.image[keep]])
        parts["category"].append(cat[keep])
        for k in ("score", "rank", "tp", "fp"):
            parts[k].append(getattr(piece, k)[keep])
    image = np.concatenate(parts["image"]).astype(np.int64, copy=False)
    order = np.argsort(image, kind="stable")  # an image's entries come from one piece, already in order
    return MatchTables(
        image_ids=image_ids.tolist(),
        category_ids=cats.tolist(),
        max_dets=tuple(int(x) for x in max_dets),
        image=image[order],
        category=np.concatenate(parts["category"]).astype(np.int64, copy=False)[order],
        score=np.concatenate(parts["score"])[order],
        rank=np.concatenate(parts["rank"]).astype(np.int64, copy=False)[order],
        tp=np.concatenate(parts["tp"]).reshape(-1, n_area, n_iou)[order],
        fp=np.concatenate(parts["fp"]).reshape(-1, n_area, n_iou)[order],
        npig=npig,
    )


def take_images(tables: MatchTables, start: int, stop: int, *, image_ids: Sequence[int]) -> MatchTables:
    """The tables of the image positions ``[start, stop)`` alone, their images renamed ``image_ids`` (sorted).

    Several image sets matched in one ``build_match_tables`` call (each set's images given ids of
    their own, set after set) come apart again: matching is per (image, category) pair, so each part
    equals the tables built on its set alone. Entry arrays are views into ``tables``.
    """
    if stop - start != len(image_ids):
        raise ValueError(f"{stop - start} image positions but {len(image_ids)} image ids")
    lo, hi = np.searchsorted(tables.image, [start, stop])  # entries are in image order
    return MatchTables(
        image_ids=[int(i) for i in image_ids],
        category_ids=list(tables.category_ids),
        max_dets=tables.max_dets,
        image=tables.image[lo:hi] - start,
        category=tables.category[lo:hi],
        score=tables.score[lo:hi],
        rank=tables.rank[lo:hi],
        tp=tables.tp[lo:hi],
        fp=tables.fp[lo:hi],
        npig=tables.npig[start:stop],
    )


def _summary_rows(*, per_class: bool) -> dict[str, MetricDef]:
    """The registry's COCO summary metrics: all of them, or those also measured per class."""
    rows = metrics_for("detection")
    return {
        r.name: r for r in rows
        if isinstance(r.params, CocoSummary) and (not per_class or r.scope == "class" or r.per_class)
        and r.scope in ("unit", "class")
    }


@dataclass
class _Columns:
    """One column per true-positive entry of every (category, IoU threshold) segment, in score order."""

    fp_image: np.ndarray  # [F] image (or virtual image) of each FP entry that precedes some TP of its segment
    fp_column: np.ndarray  # [F] column of the first TP after that FP entry
    tp_image: np.ndarray  # [N] image (or virtual image) of the TP entry of each column
    col_cat: np.ndarray  # [N] category index (into the selected categories)
    starts: np.ndarray  # [S] first column of each non-empty segment
    seg_cat: np.ndarray  # [S] category index of each segment
    tp_total: np.ndarray  # [n, K_sel, T_sel] TP count per image (for AR)
    virtual: np.ndarray  # [V, 2] virtual image n + v = (image, j): weight 1 where the image is drawn ≥ j times


def _tied_copies(img: np.ndarray, kpos: np.ndarray, score: np.ndarray, n: int, copies: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries in COCOeval's order when each image may be drawn up to ``copies`` times.

    ``img``, ``kpos`` and ``score`` are in COCOeval's order for one draw. A run of ≥ 2 entries of one
    image and category with equal scores is repeated per copy (copy-major: the copies interleave in
    COCOeval, which sorts a duplicated image's copies as separate images). Returns the entry
    positions to take, their image column (n + v for virtual image v) and ``virtual[V, 2]``.
    """
    e = len(img)
    new_run = np.ones(e, dtype=bool)
    new_run[1:] = (img[1:] != img[:-1]) | (kpos[1:] != kpos[:-1]) | (score[1:] != score[:-1])
    run = np.cumsum(new_run) - 1
    tied = np.bincount(run, minlength=1)[run] >= 2 if e else np.zeros(0, dtype=bool)
    if not tied.any():
        return np.arange(e), img, np.zeros((0, 2), dtype=np.int64)
    reps = np.where(tied, copies, 1)
    src = np.repeat(np.arange(e), reps)
    copy = np.arange(len(src)) - np.repeat(np.cumsum(reps) - reps, reps)
    order = np.lexsort((src, copy, run[src]))  # run by run; inside a tied run copy by copy
    src, copy = src[order], copy[order]
    image = img[src].copy()
    t_src = tied[src]
    uniq, inv = np.unique(image[t_src] * copies + copy[t_src], return_inverse=True)
    image[t_src] = n + inv
    virtual = np.stack([uniq // copies, uniq % copies + 1], axis=1).astype(np.int64)
    return src, image, virtual


def _columns(
    tables: MatchTables, cats: np.ndarray, t_sel: tuple[int, ...], area: int, max_det: int, copies: int
) -> _Columns:
    n = tables.n_images
    keep = (tables.rank < max_det) & np.isin(tables.category, cats)
    img, cat, score, rank = tables.image[keep], tables.category[keep], tables.score[keep], tables.rank[keep]
    tp = tables.tp[keep][:, area, :][:, list(t_sel)]
    fp = tables.fp[keep][:, area, :][:, list(t_sel)]
    kpos = np.searchsorted(cats, cat)
    # COCOeval's order: per category, score descending, stable over (image position, rank)
    srt = np.lexsort((rank, img, -score, kpos))
    img, kpos, score, tp, fp = img[srt], kpos[srt], score[srt], tp[srt], fp[srt]
    tp_total = np.zeros((n, len(cats), len(t_sel)), dtype=np.int64)
    e_tp, t_tp = np.nonzero(tp)
    np.add.at(tp_total, (img[e_tp], kpos[e_tp], t_tp), 1)
    src, img, virtual = _tied_copies(img, kpos, score, n, max(int(copies), 1))
    kpos, tp, fp = kpos[src], tp[src], fp[src]
    cols_img, cols_cat, starts, seg_cat, fp_img, fp_col = [], [], [], [], [], []
    n_cols = 0
    bounds = np.searchsorted(kpos, np.arange(len(cats) + 1))
    for k in range(len(cats)):
        lo, hi = bounds[k], bounds[k + 1]
        for j in range(len(t_sel)):
            tp_pos = np.nonzero(tp[lo:hi, j])[0]
            if len(tp_pos) == 0:
                continue
            fp_pos = np.nonzero(fp[lo:hi, j])[0]
            seg = np.searchsorted(tp_pos, fp_pos)  # an FP counts toward every TP after it
            inside = seg < len(tp_pos)
            fp_img.append(img[lo:hi][fp_pos[inside]])
            fp_col.append(n_cols + seg[inside])
            cols_img.append(img[lo:hi][tp_pos])
            cols_cat.append(np.full(len(tp_pos), k))
            starts.append(n_cols)
            seg_cat.append(k)
            n_cols += len(tp_pos)
    cat_arr = lambda xs: np.concatenate(xs).astype(np.int64) if xs else np.zeros(0, np.int64)  # noqa: E731
    return _Columns(
        fp_image=cat_arr(fp_img),
        fp_column=cat_arr(fp_col),
        tp_image=cat_arr(cols_img),
        col_cat=cat_arr(cols_cat),
        starts=np.asarray(starts, dtype=np.int64),
        seg_cat=np.asarray(seg_cat, dtype=np.int64),
        tp_total=tp_total,
        virtual=virtual,
    )


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """``counts[B, n]``: how often each image is drawn in each row of ``indices[B, m]``."""
    idx = check_indices(indices, n)
    b = idx.shape[0]
    flat = (idx + (np.arange(b) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n)


def _count_thresholds_at_most(rc: np.ndarray) -> np.ndarray:
    """Number of recall thresholds ≤ rc, elementwise, as float (``searchsorted(..., side="right")``).

    For 0 ≤ rc ≤ 1, with f = floor(rc * 100): thresholds 0..f-1 are ≤ rc and f+2 is not, whatever
    the rounding, so the count is f + [r_f ≤ rc] + [r_{f+1} ≤ rc], with r_j = j * 0.01 exactly as
    ``np.linspace`` computes it (checked at import) — all in float64, no index gathers.
    """
    if not _THRESHOLDS_ARE_J_HUNDREDTHS:
        return np.searchsorted(RECALL_THRESHOLDS, rc, side="right").astype(np.float64)
    f = np.multiply(rc, 100.0)
    np.floor(f, out=f)
    r = np.multiply(f, 0.01)
    at_f = r <= rc
    np.add(f, 1.0, out=r)
    np.multiply(r, 0.01, out=r)
    at_next = r <= rc
    f += at_f
    f += at_next
    return f


def _scan_rows(x: np.ndarray, op: np.ufunc) -> None:
    """In place, ``x[i] = op(x[i - 1], x[i])`` along the first axis (a cumulative ``op``).

    ``op.accumulate`` along a non-contiguous axis runs element by element (tens of times slower than
    a ufunc over whole rows), so rows are combined with whole-row ufunc calls instead: in blocks of
    about √L rows (a scan inside every block at once, then each block's carry), so a long axis costs
    about 3√L calls. For sums of integer-valued floats and for max, any order gives the same values.
    """
    n_rows = x.shape[0]
    if n_rows <= 48:
        for i in range(1, n_rows):
            op(x[i - 1], x[i], out=x[i])
        return
    c = int(np.sqrt(n_rows))
    a = n_rows // c
    blocks = x[: a * c].reshape((a, c) + x.shape[1:])
    for i in range(1, c):
        op(blocks[:, i - 1], blocks[:, i], out=blocks[:, i])
    for j in range(1, a):
        op(blocks[j - 1, -1], blocks[j], out=blocks[j])
    for i in range(a * c, n_rows):
        op(x[i - 1], x[i], out=x[i])


def _segment_groups(lengths: np.ndarray, max_cols: int) -> list[np.ndarray]:
    """Segments grouped for a padded ``[L, S_g]`` layout: longest first, each group's length L its
    longest segment's, at most ``max_cols`` padded columns (a longer segment is a group of its own)
    and at most 25% padding per segment."""
    order = np.argsort(-lengths, kind="stable")
    groups, i = [], 0
    while i < len(order):
        top = int(lengths[order[i]])
        cap = max(1, max_cols // max(top, 1))
        j = i + 1
        while j < len(order) and j - i < cap and 4 * int(lengths[order[j]]) >= 3 * top:
            j += 1
        groups.append(order[i:j])
        i = j
    return groups


def _ap_sums(counts: np.ndarray, npig: np.ndarray, cols: _Columns) -> np.ndarray:
    """Σ over IoU thresholds of Σ_r q_r per resample and category: ``[B, K_sel]``.

    Segments of similar length are laid out together as ``[L, S_g, rows]`` (padded to the group's
    longest segment, the resample rows innermost), so every segmented scan is a plain scan along the
    first axis: cumulative sums restart per segment for free, and the precision envelope (reverse
    cumulative max) of all segments is one row-wise scan (``_scan_rows``) — exact, as max is, with no
    per-segment loop and no offset arithmetic on the precision values. Padding repeats a
    segment's last entry (no new TP or FP), so it adds no recall threshold and cannot raise the
    envelope. Per group, the per-image cumulative ``TP + FP`` matrix turns every resample's
    denominators into one exact float32 matrix product (integers below 2**24, checked);
    numerators are gathered per-image counts summed along the segment in float64.
    """
    b_all, n = counts.shape
    n_cols = len(cols.tp_image)
    out = np.zeros(counts.shape[:1] + npig.shape[1:])
    if n_cols == 0:
        return out
    ends = np.append(cols.starts[1:], n_cols)
    lengths = ends - cols.starts
    n_seg = len(lengths)
    col_seg = np.repeat(np.arange(n_seg), lengths)
    col_off = np.arange(n_cols) - cols.starts[col_seg]
    groups = _segment_groups(lengths, _GROUP_COLS)
    seg_group = np.empty(n_seg, dtype=np.int64)
    seg_slot = np.empty(n_seg, dtype=np.int64)
    for g, segs in enumerate(groups):
        seg_group[segs] = g
        seg_slot[segs] = np.arange(len(segs))
    # entries (FP before a TP column, and the TP columns) sorted by group
    ent_col = np.concatenate([cols.fp_column, np.arange(n_cols)])
    ent_img = np.concatenate([cols.fp_image, cols.tp_image])
    ent_grp = seg_group[col_seg[ent_col]]
    ent_order = np.argsort(ent_grp, kind="stable")
    ent_col, ent_img = ent_col[ent_order], ent_img[ent_order]
    ent_bounds = np.searchsorted(ent_grp[ent_order], np.arange(len(groups) + 1))
    col_order = np.argsort(seg_group[col_seg], kind="stable")
    col_bounds = np.searchsorted(seg_group[col_seg][col_order], np.arange(len(groups) + 1))

    m_draws = int(counts.sum(axis=1).max())
    counts32 = counts.astype(np.float32)
    counts_t = np.zeros((n + 1, b_all))  # row n: a never-drawn image, for padding
    counts_t[:n] = counts.T
    npos_t = np.maximum(npig.T, 1).astype(np.float64)  # [K, B]; npig = 0 means tp = 0, rc = 0
    eps = np.float64(np.spacing(1))
    for g, segs in enumerate(groups):
        s_g, l_g = len(segs), int(lengths[segs].max())
        x_g = l_g * s_g
        e0, e1 = ent_bounds[g], ent_bounds[g + 1]
        pos = col_off[ent_col[e0:e1]] * s_g + seg_slot[col_seg[ent_col[e0:e1]]]
        # only images with entries in this group have non-zero rows: the matrix is built over those
        used, img_row = np.unique(ent_img[e0:e1], return_inverse=True)
        den = np.bincount(img_row * x_g + pos, minlength=len(used) * x_g).reshape(len(used), l_g, s_g)
        np.cumsum(den, axis=1, out=den)
        exact32 = m_draws * int(den.max(initial=0)) < 1 << 24
        den_mat = den.reshape(len(used), x_g).astype(np.float32 if exact32 else np.float64)
        c_mat = counts32 if exact32 else counts.astype(np.float64)
        if len(used) < n:
            c_mat = c_mat[:, used]
        gcols = col_order[col_bounds[g] : col_bounds[g + 1]]
        tp_idx = np.full((l_g, s_g), n, dtype=np.int64)
        tp_idx[col_off[gcols], seg_slot[col_seg[gcols]]] = cols.tp_image[gcols]
        cats = cols.seg_cat[segs]
        rows = min(b_all, max(_MIN_ROWS, _BLOCK_ELEMS // x_g))
        for b0 in range(0, b_all, rows):
            b1 = min(b0 + rows, b_all)
            bb = b1 - b0
            # pr = tp / ((fp + tp) + eps): pycocotools' exact expression, in float64
            pr = np.add(np.matmul(den_mat.T, c_mat[b0:b1].T), eps, dtype=np.float64).reshape(l_g, s_g, bb)
            tp = np.take(counts_t[:, b0:b1], tp_idx, axis=0)
            _scan_rows(tp, np.add)
            np.divide(tp, pr, out=pr)
            rc = np.divide(tp, npos_t[cats, b0:b1], out=tp)
            n_le = _count_thresholds_at_most(rc)
            delta = np.empty_like(n_le)
            delta[0] = n_le[0]
            np.subtract(n_le[1:], n_le[:-1], out=delta[1:])
            _scan_rows(pr[::-1], np.maximum)  # precision envelope of all segments at once
            np.multiply(pr, delta, out=pr)
            np.add.at(out[b0:b1].T, cats, pr.sum(axis=0))
    return out


def table_replicates(
    tables: MatchTables, indices: np.ndarray, metric: str = "map", *, category_id: int | None = None
) -> np.ndarray:
    """``metric`` recomputed for each row of ``indices[B, n]`` (positions in ``tables.image_ids``).

    Returns ``[B]`` floats; NaN where a resample has no non-ignored ground truth (COCOeval's -1).
    """
    if category_id is None:
        known = _summary_rows(per_class=False)
        if metric not in known:
            raise DataError(f"unknown detection metric {metric!r}; choose one of {sorted(known)}")
        summary: CocoSummary = known[metric].params
        cats = np.arange(len(tables.category_ids))
    else:
        known = _summary_rows(per_class=True)
        if metric not in known:
            raise DataError(f"unknown per-class metric {metric!r}; choose one of {sorted(known)}")
        if category_id not in tables.category_ids:
            raise DataError(f"category id {category_id} is not among the evaluated ids {tables.category_ids}")
        summary = known[metric].params
        cats = np.array([tables.category_ids.index(category_id)])
    is_ap, t_sel, area, m_idx = summary.ap, summary.iou_indices, summary.area_index, summary.max_dets
    max_det = tables.max_dets[m_idx]
    counts = resample_counts(indices, tables.n_images)
    copies = int(counts.max(initial=1)) if is_ap else 1  # tied runs are laid out once per possible copy
    key = (tuple(cats.tolist()), t_sel, area, max_det, copies)
    if key not in tables._cache:
        tables._cache[key] = _columns(tables, cats, t_sel, area, max_det, copies)
    cols: _Columns = tables._cache[key]
    npig = counts @ tables.npig[:, cats, area]  # [B, K_sel] non-ignored ground truth per resample
    valid = npig > 0
    n_t = len(t_sel)
    if is_ap:
        weights = counts
        if len(cols.virtual):  # copy j of an image is there when the image is drawn at least j times
            weights = np.concatenate([counts, counts[:, cols.virtual[:, 0]] >= cols.virtual[:, 1]], axis=1)
        per_cat = _ap_sums(weights, npig, cols) / len(RECALL_THRESHOLDS)
    else:
        tp_tot = counts.astype(np.float64) @ cols.tp_total.reshape(tables.n_images, -1).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_cat = (tp_tot.reshape(len(counts), len(cats), n_t) / npig[:, :, None]).sum(axis=2)
    n_valid = valid.sum(axis=1)
    total = np.where(valid, per_cat, 0.0).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n_valid > 0, total / (n_valid * n_t), np.nan)
