"""pycocotools' COCOeval on fieldready records: the reference the metric tests compare against."""

from __future__ import annotations

import contextlib
import io

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from fieldready.evaluation.metrics.coco_format import coco_detections, coco_ground_truth


def pycoco_eval(targets, detections, category_ids, *, max_dets=(1, 10, 100)) -> COCOeval:
    """Run the reference COCOeval (evaluate, accumulate, summarize) silently."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco_ground_truth(targets, category_ids=sorted(category_ids))
        gt.createIndex()
        dts = coco_detections(detections)
        if dts:
            dt = gt.loadRes(dts)
        else:
            dt = COCO()
            dt.dataset = {"images": gt.dataset["images"], "categories": gt.dataset["categories"], "annotations": []}
            dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev
