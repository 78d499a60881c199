"""Apply a model's declared input and output conventions: pure, batched torch on any device.

The runner hands over float RGB ``[N, 3, H, W]`` in [0, 1]; ``prepare_input`` turns it into what the
model takes (resize by stretch or letterbox, channel order, value range, mean/std, dtype) and returns
the ``Transform`` that maps model-input pixels back to the image's. A decoder turns the raw output of
a format (``torchvision``, ``yolo``, ``detr``, ``logits``, ``probabilities``) into ``Detections`` in
model-input pixels or logits; ``decode_output`` does it all: decode, boxes back on the original image
(letterbox padding and scaling undone, clipped), model classes mapped to the dataset's category ids.

    x, transform = prepare_input(images, spec.input)
    raw = model(x)
    result = decode_output(raw, spec.output, transform, classes=dataset.classes,
                           mapping=resolve_labels(spec.output.labels, dataset.classes, classification=...))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fieldready.errors import ModelError
from fieldready.execution.models.batching import run_in_batches
from fieldready.execution.models.convention_spec import (
    CLASSIFICATION_FORMATS,
    DetrOutput,
    InputConvention,
    OutputConvention,
    TorchvisionOutput,
    YoloOutput,
)

__all__ = [
    "Transform",
    "Detections",
    "prepare_input",
    "resize",
    "to_xyxy",
    "batched_nms",
    "rank_within_image",
    "decode_torchvision",
    "decode_yolo",
    "decode_detr",
    "decode_classification",
    "map_detection_labels",
    "map_class_logits",
    "decode_output",
    "run_in_batches",
]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "uint8": torch.uint8}
MAX_CANDIDATES = 30000  # boxes per image entering NMS, highest scores first (Ultralytics' max_nms)


@dataclass(frozen=True)
class Transform:
    """Per image, how model-input pixels relate to the original's: ``x_in = x_orig * scale + pad``.

    ``scale`` and ``pad`` are ``[N, 2]`` (x, y) tensors, ``original`` the ``[N, 2]`` (width, height) of
    the images given to ``prepare_input``, ``input_size`` the (height, width) the model sees.
    """

    scale: torch.Tensor
    pad: torch.Tensor
    original: torch.Tensor
    input_size: tuple[int, int]

    def to_original(self, boxes: torch.Tensor, index: torch.Tensor, *, clip: bool = True) -> torch.Tensor:
        """xyxy boxes in model-input pixels of images ``index`` → the original images' pixels, clipped to them."""
        scale = self.scale[index].repeat(1, 2)
        pad = self.pad[index].repeat(1, 2)
        out = (boxes.to(scale.device, torch.float32) - pad) / scale
        if clip:
            size = self.original[index].repeat(1, 2)
            out = torch.minimum(out.clamp(min=0), size)
        return out


@dataclass
class Detections:
    """All detections of a batch in one set of tensors: row r belongs to image ``index[r]``.

    ``num_classes`` is the model's class count when its output shows it (yolo, detr), else None.
    """

    index: torch.Tensor
    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor
    num_classes: int | None = None

    def select(self, keep: torch.Tensor) -> "Detections":
        """The rows ``keep`` (a mask or indices)."""
        return Detections(self.index[keep], self.boxes[keep], self.scores[keep], self.labels[keep], self.num_classes)


def _fail(where: str, got: str, expected: str) -> ModelError:
    return ModelError(f"{where} returned {got}; expected {expected} (check the model's output: block)")


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {list(value.shape)}"
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(map(str, value))[:6]}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"


# ---------------------------------------------------------------------------------------------- input


def resize(images: torch.Tensor, size: tuple[int, int], *, mode: str = "stretch", pad_value: float = 114.0
           ) -> tuple[torch.Tensor, Transform]:
    """Resize ``[N, C, H, W]`` images to ``size`` (height, width): ``stretch``, or ``letterbox`` as Ultralytics does.

    Letterbox scales by ``r = min(H'/H, W'/W)`` to ``round(W r) × round(H r)`` and pads the rest with
    ``pad_value`` (0–255 scale) split evenly, the odd pixel going right and bottom. Bilinear with
    antialiasing when shrinking, so fine detail aliases as little as in a camera pipeline. The
    transform keeps each axis's exact scale (rounded size / original size); Ultralytics' ``scale_boxes``
    divides both by ``r``, which differs by the rounding, a fraction of a pixel.
    """
    n, _, h, w = images.shape
    th, tw = int(size[0]), int(size[1])
    if mode == "letterbox":
        r = min(th / h, tw / w)
        nh, nw = max(1, int(round(h * r))), max(1, int(round(w * r)))
    elif mode == "stretch":
        nh, nw = th, tw
    else:
        raise ModelError(f"unknown resize mode {mode!r}; use stretch or letterbox")
    x = images
    if (nh, nw) != (h, w):
        x = F.interpolate(x.float(), size=(nh, nw), mode="bilinear", align_corners=False, antialias=nh < h or nw < w)
    left, top = (tw - nw) // 2, (th - nh) // 2
    if (nh, nw) != (th, tw):
        x = F.pad(x, (left, tw - nw - left, top, th - nh - top), value=pad_value / 255.0)
    dev = images.device
    transform = Transform(
        scale=torch.tensor([[nw / w, nh / h]], device=dev).expand(n, 2),
        pad=torch.tensor([[float(left), float(top)]], device=dev).expand(n, 2),
        original=torch.tensor([[float(w), float(h)]], device=dev).expand(n, 2),
        input_size=(th, tw),
    )
    return x, transform


def prepare_input(images: torch.Tensor, spec: InputConvention) -> tuple[torch.Tensor, Transform]:
    """The runner's float RGB ``[N, 3, H, W]`` in [0, 1] → the model's input, and the transform to map boxes back.

    Order: resize (stretch or letterbox), channel order, value range, ``(x - mean) / std``, dtype.
    """
    n, c, h, w = images.shape
    size = tuple(spec.size) if spec.size is not None else (h, w)
    x, transform = resize(images, size, mode=spec.resize, pad_value=spec.pad_value)  # type: ignore[arg-type]
    if spec.color == "bgr":
        x = x.flip(1)
    if spec.value_range == 255:
        x = x * 255.0
    if spec.mean is not None and spec.std is not None:
        mean = torch.tensor(spec.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(spec.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        x = (x - mean) / std
    if spec.dtype == "uint8":
        x = x.round().clamp(0, 255).to(torch.uint8)
    else:
        x = x.to(_DTYPES[spec.dtype])
    return x, transform


# ---------------------------------------------------------------------------------------------- boxes


def to_xyxy(boxes: torch.Tensor, encoding: str, *, normalized: bool, input_size: tuple[int, int]) -> torch.Tensor:
    """``[K, 4]`` boxes in ``xyxy | xywh | cxcywh``, normalised or in pixels → xyxy in model-input pixels."""
    b = boxes.float()
    if normalized:
        h, w = input_size
        b = b * torch.tensor([w, h, w, h], device=b.device, dtype=b.dtype)
    if encoding == "xyxy":
        return b
    if encoding == "xywh":
        return torch.cat([b[..., :2], b[..., :2] + b[..., 2:]], dim=-1)
    if encoding == "cxcywh":
        half = b[..., 2:] / 2
        return torch.cat([b[..., :2] - half, b[..., :2] + half], dim=-1)
    raise ModelError(f"unknown box encoding {encoding!r}; use xyxy, xywh or cxcywh")


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_threshold: float, *,
                max_per_group: int | None = None) -> torch.Tensor:
    """Greedy NMS within each group (e.g. image × class): indices of the boxes kept, as torchvision's ``batched_nms``.

    A box is dropped when a kept box of its group with a higher score overlaps it with IoU above
    ``iou_threshold``. All groups advance together: each round keeps the best box left in every group
    and drops the boxes of its group it overlaps, so the rounds number the most boxes any group keeps
    (at most ``max_per_group``: a group's later boxes cannot rank among an image's best that many)
    and each round costs one vectorised pass over the boxes still in play; memory is linear.
    """
    k = scores.shape[0]
    if k == 0:
        return torch.zeros(0, dtype=torch.long, device=scores.device)
    order = scores.argsort(descending=True, stable=True)
    order = order[groups[order].argsort(stable=True)]  # group by group, best score first within each
    pos = torch.arange(k, device=scores.device)  # positions in ``order`` of the boxes still in play
    g = groups[order]
    x1, y1, x2, y2 = boxes[order].float().unbind(1)
    x1, y1, x2, y2 = x1.contiguous(), y1.contiguous(), x2.contiguous(), y2.contiguous()
    area = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    keep = torch.zeros(k, dtype=torch.bool, device=scores.device)
    for _ in range(max_per_group if max_per_group is not None else k):
        if pos.numel() == 0:
            break
        head = torch.ones_like(g, dtype=torch.bool)
        head[1:] = g[1:] != g[:-1]  # the best box left in each group
        heads = head.nonzero().flatten()
        keep[pos.index_select(0, heads)] = True
        ref = heads.index_select(0, head.cumsum(0) - 1)  # each box's group head
        w = (torch.minimum(x2, x2.index_select(0, ref)) - torch.maximum(x1, x1.index_select(0, ref))).clamp_(min=0)
        h = (torch.minimum(y2, y2.index_select(0, ref)) - torch.maximum(y1, y1.index_select(0, ref))).clamp_(min=0)
        inter = w * h
        union = (area + area.index_select(0, ref) - inter).clamp_(min=torch.finfo(inter.dtype).tiny)  # 0/0 → 0
        stay = (~head & ~(inter / union > iou_threshold)).nonzero().flatten()
        pos, g, x1, y1, x2, y2, area = (t.index_select(0, stay) for t in (pos, g, x1, y1, x2, y2, area))
    return order[keep]


def rank_within_image(index: torch.Tensor, scores: torch.Tensor, n: int) -> torch.Tensor:
    """Each row's rank by score (0 = best) among the rows of its image; ties keep their order."""
    if index.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=index.device)
    order = scores.argsort(descending=True, stable=True)
    order = order[index[order].argsort(stable=True)]
    counts = torch.bincount(index, minlength=n)
    starts = counts.cumsum(0) - counts
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=index.device) - starts[index[order]]
    return rank


def _by_image(dets: Detections) -> Detections:
    """Rows sorted by image, then by decreasing score."""
    order = dets.scores.argsort(descending=True, stable=True)
    order = order[dets.index[order].argsort(stable=True)]
    return dets.select(order)


# ---------------------------------------------------------------------------------------------- decoders


def _check_finite(t: torch.Tensor, where: str, what: str) -> None:
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        bad = int((~torch.isfinite(t)).flatten(1).any(1).nonzero()[0]) if t.ndim > 1 else 0
        raise _fail(where, f"NaN or infinite values in {what} (first in image {bad} of the batch)", f"finite {what}")


def decode_torchvision(out: object, n: int, *, boxes: str = "xyxy", normalized: bool = False,
                       input_size: tuple[int, int], where: str = "the model") -> Detections:
    """torchvision's list of N dicts (``boxes`` [K, 4], ``scores`` [K], ``labels`` [K]) → Detections in input pixels."""
    expected = f"a list of {n} dicts with tensors boxes [K, 4], scores [K] and labels [K], one per image"
    if not isinstance(out, (list, tuple)) or len(out) != n or not all(isinstance(d, Mapping) for d in out):
        raise _fail(where, _describe(out), expected)
    parts = []
    for i, d in enumerate(out):
        if not all(isinstance(d.get(key), torch.Tensor) for key in ("boxes", "scores", "labels")):
            raise _fail(where, f"for image {i} {_describe(d)}", expected)
        b, s, lab = d["boxes"], d["scores"], d["labels"]
        if b.ndim == 1 and b.numel() == 0:
            b = b.reshape(0, 4)
        if b.ndim != 2 or b.shape[1] != 4 or s.ndim != 1 or lab.ndim != 1 or not b.shape[0] == s.shape[0] == lab.shape[0]:
            raise _fail(where, f"for image {i} boxes {list(b.shape)}, scores {list(s.shape)}, labels {list(lab.shape)}", expected)
        parts.append((b, s, lab))
    device = parts[0][0].device if parts else torch.device("cpu")
    counts = torch.tensor([len(p[1]) for p in parts], device=device, dtype=torch.long)
    index = torch.repeat_interleave(torch.arange(n, device=device), counts)
    b = torch.cat([p[0].to(device).float() for p in parts]) if parts else torch.zeros(0, 4, device=device)
    s = torch.cat([p[1].to(device).float() for p in parts]) if parts else torch.zeros(0, device=device)
    lab = torch.cat([p[2].to(device) for p in parts]) if parts else torch.zeros(0, dtype=torch.long, device=device)
    _check_finite(b, where, "boxes")
    _check_finite(s, where, "scores")
    if lab.is_floating_point():
        if not bool((torch.isfinite(lab) & (lab == lab.round())).all()):
            raise _fail(where, "fractional or non-finite labels", "whole-number class labels")
    return Detections(index, to_xyxy(b, boxes, normalized=normalized, input_size=input_size), s, lab.long())


def _single_tensor(out: object, where: str, expected: str) -> torch.Tensor:
    """The tensor of a one-output model (a tensor, or a tuple/list/dict whose first item is one)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping) and out:
        out = list(out.values())
    if isinstance(out, (list, tuple)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise _fail(where, _describe(out), expected)


def decode_yolo(out: object, n: int, *, layout: str = "v8", boxes: str = "cxcywh", normalized: bool = False,
                score_threshold: float = 0.001, iou_threshold: float = 0.7, max_detections: int = 300,
                num_classes: int | None = None, input_size: tuple[int, int], where: str = "the model") -> Detections:
    """An Ultralytics head → Detections after class-aware NMS, best first within each image.

    ``v8``: ``[N, 4 + C, A]`` (boxes, then C class scores; score = best class). ``v5``: ``[N, A, 5 + C]``
    (objectness at index 4; score = objectness × class score). A candidate needs a score above
    ``score_threshold``; at most ``MAX_CANDIDATES`` per image enter NMS, ``max_detections`` leave it.
    ``num_classes``, when known, is checked against the head, naming the layout it looks like instead.
    """
    c = "C" if num_classes is None else str(num_classes)
    expected = (f"one tensor [{n}, 4 + {c}, anchors] (YOLOv8 layout)" if layout == "v8"
                else f"one tensor [{n}, anchors, 5 + {c}] (YOLOv5 layout, objectness at index 4)")
    t = _single_tensor(out, where, expected)
    looks = ""
    if t.ndim == 3 and t.shape[0] == n:
        if layout == "v8" and t.shape[2] >= 6 and (t.shape[2] - 5 == num_classes or (num_classes is None and t.shape[1] < 5)):
            looks = "; it looks like [N, anchors, 5 + C]: declare layout: v5"
        if layout == "v5" and t.shape[1] >= 5 and (t.shape[1] - 4 == num_classes or (num_classes is None and t.shape[2] < 6)):
            looks = "; it looks like [N, 4 + C, anchors]: declare layout: v8"
    if layout == "v8":
        if t.ndim != 3 or t.shape[0] != n or t.shape[1] < 5 or (num_classes is not None and t.shape[1] != 4 + num_classes):
            raise _fail(where, _describe(t), expected + looks)
        p = t.transpose(1, 2)
        _check_finite(p, where, "the YOLO head")
        num_classes = p.shape[2] - 4
        scores, labels = p[..., 4:].float().max(dim=-1)
    elif layout == "v5":
        if t.ndim != 3 or t.shape[0] != n or t.shape[2] < 6 or (num_classes is not None and t.shape[2] != 5 + num_classes):
            raise _fail(where, _describe(t), expected + looks)
        p = t
        _check_finite(p, where, "the YOLO head")
        num_classes = p.shape[2] - 5
        scores, labels = (p[..., 5:].float() * p[..., 4:5].float()).max(dim=-1)
    else:
        raise ModelError(f"unknown YOLO layout {layout!r}; use v8 or v5")
    image, anchor = (scores > score_threshold).nonzero(as_tuple=True)
    dets = Detections(image, p[image, anchor, :4], scores[image, anchor], labels[image, anchor], num_classes)
    if dets.index.numel():
        dets = dets.select(rank_within_image(dets.index, dets.scores, n) < MAX_CANDIDATES)
    dets.boxes = to_xyxy(dets.boxes, boxes, normalized=normalized, input_size=input_size)
    kept = batched_nms(dets.boxes, dets.scores, dets.index * num_classes + dets.labels, iou_threshold,
                       max_per_group=max_detections)
    dets = dets.select(kept)
    dets = dets.select(rank_within_image(dets.index, dets.scores, n) < max_detections)
    return _by_image(dets)


def _detr_pair(out: object, where: str, expected: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(out, Mapping) and isinstance(out.get("logits"), torch.Tensor) and isinstance(out.get("pred_boxes"), torch.Tensor):
        return out["logits"], out["pred_boxes"]
    items = list(out.values()) if isinstance(out, Mapping) else out
    if isinstance(items, (list, tuple)) and len(items) >= 2 and all(isinstance(v, torch.Tensor) for v in items[:2]):
        return items[0], items[1]
    raise _fail(where, _describe(out), expected)


def decode_detr(out: object, n: int, *, boxes: str = "cxcywh", normalized: bool = True, score_threshold: float = 0.0,
                max_detections: int = 100, input_size: tuple[int, int], where: str = "the model") -> Detections:
    """Hugging Face DETR-family outputs → Detections, as ``post_process_object_detection`` computes them.

    Scores: softmax over ``logits [N, Q, C + 1]``, the last (no-object) class dropped, best class per
    query; kept above ``score_threshold``, the best ``max_detections`` per image. Boxes from
    ``pred_boxes [N, Q, 4]`` (a dict with those keys, or the first two outputs in that order).
    """
    expected = f"logits [{n}, queries, C + 1] and pred_boxes [{n}, queries, 4] (a dict with these keys, or in this order)"
    logits, pred = _detr_pair(out, where, expected)
    if logits.ndim != 3 or pred.ndim != 3 or logits.shape[0] != n or pred.shape[:2] != logits.shape[:2] \
            or pred.shape[2] != 4 or logits.shape[2] < 2:
        raise _fail(where, f"logits {list(logits.shape)} and pred_boxes {list(pred.shape)}", expected)
    _check_finite(logits, where, "logits")
    _check_finite(pred, where, "pred_boxes")
    scores, labels = logits.float().softmax(-1)[..., :-1].max(dim=-1)
    image, query = (scores > score_threshold).nonzero(as_tuple=True)
    dets = Detections(image, to_xyxy(pred[image, query], boxes, normalized=normalized, input_size=input_size),
                      scores[image, query], labels[image, query], logits.shape[2] - 1)
    dets = dets.select(rank_within_image(dets.index, dets.scores, n) < max_detections)
    return _by_image(dets)


def decode_classification(out: object, n: int, *, kind: str = "logits", where: str = "the model") -> torch.Tensor:
    """A classifier's ``[N, C]`` logits or probabilities → float logits (probabilities → their logarithm).

    Accepts a tensor, a dict with ``logits`` (Hugging Face's output) or a tuple whose first item is it.
    The log of probabilities has the same softmax and argmax; a zero probability becomes a very
    negative finite number, not −inf.
    """
    expected = f"{kind} [{n}, num_classes]"
    t = out.get("logits") if isinstance(out, Mapping) and isinstance(out.get("logits"), torch.Tensor) else None
    t = t if t is not None else _single_tensor(out, where, expected)
    if t.ndim != 2 or t.shape[0] != n or t.shape[1] == 0 or t.dtype == torch.bool or t.is_complex():
        raise _fail(where, _describe(t), expected)
    t = t.float()
    _check_finite(t, where, kind)
    if kind == "probabilities":
        if bool((t < 0).any()) or bool((t > 1 + 1e-3).any()):
            raise _fail(where, f"values outside [0, 1] (min {float(t.min()):.3g}, max {float(t.max()):.3g})",
                        "probabilities (or declare format: logits)")
        sums = t.sum(1)
        if bool(((sums - 1).abs() > 1e-2).any()):  # scores in [0, 1] that are not a softmax: logits or sigmoids
            worst = sums[(sums - 1).abs().argmax()]
            raise _fail(where, f"rows that sum to {float(worst):.3g}, not 1",
                        "probabilities after a softmax, each row summing to 1 (or declare format: logits)")
        return t.clamp(min=torch.finfo(t.dtype).tiny).log()
    return t


# ---------------------------------------------------------------------------------------------- labels


def _class_list(classes: Mapping[int, str], limit: int = 8) -> str:
    items = [f"{i}: {name}" for i, name in sorted(classes.items())]
    return ", ".join(items[:limit]) + (f", … ({len(items)} in all)" if len(items) > limit else "")


def _label_table(mapping: Mapping[int, int] | None, num_classes: int, classes: Mapping[int, str], where: str,
                 device: torch.device) -> torch.Tensor:
    """Model class index → dataset category id, −1 for classes the mapping leaves out."""
    if mapping is None:
        if num_classes != len(classes):
            raise ModelError(f"{where} outputs {num_classes} classes but the dataset has {len(classes)} "
                             f"({_class_list(classes)}); labels: from_dataset needs the same classes in the same order — "
                             "map them with labels: {model index: dataset class name}")
        return torch.tensor(sorted(classes), dtype=torch.long, device=device)
    beyond = sorted(i for i in mapping if i >= num_classes)
    if beyond:
        raise ModelError(f"{where} outputs {num_classes} classes (indices 0..{num_classes - 1}) but labels maps model class "
                         f"{beyond[0]} (to dataset class {classes.get(mapping[beyond[0]], mapping[beyond[0]])!r}); "
                         "fix labels: in the model's output block")
    table = torch.full((num_classes,), -1, dtype=torch.long, device=device)
    for index, category in mapping.items():
        table[index] = category
    return table


def map_detection_labels(dets: Detections, mapping: Mapping[int, int] | None, classes: Mapping[int, str], *,
                         where: str = "the model") -> Detections:
    """Model class indices → dataset category ids; detections of classes the mapping leaves out are dropped.

    ``mapping`` None (``labels: from_dataset``): model class i is the dataset's i-th class by id, and
    the model must have as many classes as the dataset.
    """
    num_classes = dets.num_classes
    if num_classes is None:  # torchvision: the labels are the model's own values
        num_classes = int(dets.labels.max()) + 1 if dets.labels.numel() else max(mapping or {0: 0}) + 1
        num_classes = max(num_classes, max(mapping or {0: 0}) + 1)
    labels = dets.labels.to(dets.index.device)
    if labels.numel() and bool((labels < 0).any()):
        raise _fail(where, f"negative class labels ({int(labels.min())})", "class indices ≥ 0")
    table = _label_table(mapping, num_classes, classes, where, labels.device)
    mapped = table[labels]
    keep = mapped >= 0
    out = dets.select(keep)
    out.labels = mapped[keep]
    return out


def map_class_logits(logits: torch.Tensor, mapping: Mapping[int, int] | None, classes: Mapping[int, str], *,
                     where: str = "the model") -> torch.Tensor:
    """A classifier's logits in its class order → one column per dataset class, in category-id order."""
    table = _label_table(mapping, logits.shape[1], classes, where, logits.device)
    if mapping is None:
        return logits
    column = {int(c): i for i, c in enumerate(table.tolist()) if c >= 0}
    return logits[:, [column[c] for c in sorted(classes)]]


def decode_output(out: object, spec: OutputConvention, transform: Transform, *, classes: Mapping[int, str],
                  mapping: Mapping[int, int] | None, where: str = "the model") -> Detections | torch.Tensor:
    """A model's raw output → fieldready's contract: Detections on the original images with dataset category ids, or logits.

    ``classes`` are the dataset's (id → name); ``mapping`` is ``resolve_labels``'s answer for the
    output's ``labels``. For ``torchvision`` with ``labels: from_dataset`` (mapping None) the labels
    are taken as the dataset's category ids already, as before declared outputs existed.
    """
    n = transform.scale.shape[0]
    if spec.format in CLASSIFICATION_FORMATS:
        logits = decode_classification(out, n, kind=spec.format, where=where)
        return map_class_logits(logits, mapping, classes, where=where) if classes else logits
    size = transform.input_size
    if isinstance(spec, YoloOutput):
        dets = decode_yolo(out, n, layout=spec.layout, boxes=spec.boxes, normalized=spec.normalized,
                           score_threshold=spec.score_threshold, iou_threshold=spec.iou_threshold,
                           max_detections=spec.max_detections, input_size=size, where=where,
                           num_classes=len(classes) if mapping is None and classes else None)
    elif isinstance(spec, DetrOutput):
        dets = decode_detr(out, n, boxes=spec.boxes, normalized=spec.normalized, score_threshold=spec.score_threshold,
                           max_detections=spec.max_detections, input_size=size, where=where)
    elif isinstance(spec, TorchvisionOutput):
        dets = decode_torchvision(out, n, boxes=spec.boxes, normalized=spec.normalized, input_size=size, where=where)
    else:
        raise ModelError(f"unknown output format {spec.format!r}")
    dets.index = dets.index.to(transform.scale.device)
    dets.boxes = transform.to_original(dets.boxes, dets.index)
    dets.scores = dets.scores.to(transform.scale.device)
    dets.labels = dets.labels.to(transform.scale.device)
    if (isinstance(spec, TorchvisionOutput) and mapping is None) or not classes:
        return dets  # torchvision's labels are category ids already; unlabelled data keeps the model's own indices
    return map_detection_labels(dets, mapping, classes, where=where)
