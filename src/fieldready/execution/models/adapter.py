"""Run a loaded model on a batch: prepare its declared input, decode its declared output, check it, map boxes back.

Every output is checked on the call that produced it — shape, count, finiteness, labels — so a broken
model stops the run on its first batch with a message naming the model, the images and what came
back, instead of after all the compute or deep inside the metrics.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fieldready.data.dataset import Dataset
from fieldready.data.types import ImageRecord
from fieldready.errors import ModelError
from fieldready.execution.models.convention_spec import CLASSIFICATION_FORMATS, DETECTION_FORMATS, resolve_labels
from fieldready.execution.models.conventions import Transform, decode_output, prepare_input
from fieldready.execution.models.kinds import find_kind, kind_names
from fieldready.spec.models import ModelSpec

__all__ = ["Adapter", "BatchDetections", "BatchWhere", "load_model", "contract_classes", "exception_cause"]

_CLEAN = "clean"
_EXCEPTION_LINE = re.compile(r"^(?:builtins\.)?[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b")


@dataclass
class BatchDetections:
    """All detections of a batch in one set of tensors: row r belongs to image ``index[r]``."""

    index: torch.Tensor
    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor


@dataclass(frozen=True)
class BatchWhere:
    """Which images a model call sees (a severity point and the records), for error messages only."""

    condition: str = _CLEAN
    label: str = ""
    records: Sequence[ImageRecord] = field(default_factory=tuple)

    def point(self) -> str:
        """``clean images`` or ``condition 'fog' at level 3``."""
        if self.condition == _CLEAN:
            return "clean images"
        return f"condition {self.condition!r}" + (f" at {self.label}" if self.label else "")

    def image(self, i: int) -> str:
        """Image ``i`` of the batch by id and file name, e.g. ``image 7 (img006.png)``."""
        if i >= len(self.records):
            return f"image {i} of the batch"
        record = self.records[i]
        return f"image {record.image_id} ({Path(record.path).name})"

    def batch(self) -> str:
        """The batch's images by id and file name, cut after a few."""
        if not self.records:
            return "a batch"
        shown = list(self.records[:3])
        ids = ", ".join(str(r.image_id) for r in shown)
        names = ", ".join(Path(r.path).name for r in shown)
        more = f", … ({len(self.records)} images)" if len(self.records) > len(shown) else ""
        return f"images {ids}{more} ({names}{', …' if more else ''})"

    def __str__(self) -> str:
        return f"{self.point()}, {self.batch()}"


def exception_cause(exc: BaseException) -> str:
    """The line of an exception that says what went wrong: for TorchScript, the final ``XError: ...``.

    TorchScript interpreter errors carry two tracebacks before their cause; the first line of such a
    message ("The following operation failed ...") says nothing, so the cause is read from the end.
    """
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    text = str(exc)
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if "TorchScript" in lines[0] or any(line.startswith("Traceback") for line in lines):
        starts = [i for i, line in enumerate(lines) if _EXCEPTION_LINE.match(line)]
        cause = " ".join(line.strip() for line in lines[starts[-1] :]) if starts else lines[-1].strip()
        cause = cause.removeprefix("builtins.")
    else:
        cause = f"{type(exc).__name__}: {lines[0].strip()}"
    return cause if len(cause) <= 300 else cause[:297] + "..."


def _shape(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {list(value.shape)}"
    return f"a {type(value).__name__}"


class Adapter:
    """A candidate model with its input and output contract: holds the callable, does no evaluation.

    ``classes`` are the dataset's classes (id → name): a classifier must return one logit per class,
    a detector only labels among these ids. Empty (unlabelled data without class names) skips both checks.
    """

    def __init__(
        self,
        spec: ModelSpec,
        fn: Callable,
        device: torch.device,
        task: str,
        classes: dict[int, str] | None = None,
    ) -> None:
        self.spec = spec
        self.fn = fn
        self.device = device
        self.task = task
        self.classes = dict(classes or {})
        self._category_ids = torch.tensor(sorted(self.classes), dtype=torch.int64, device=device)
        output = spec.output
        # model class index → dataset category id; None: from_dataset (or no output block, or unlabelled data)
        self.mapping = (resolve_labels(output.labels, self.classes, classification=task == "classification",
                                       key=f"models.{spec.name}.output.labels")
                        if output is not None and self.classes else None)

    @property
    def name(self) -> str:
        return self.spec.name

    def prepare(self, images: torch.Tensor) -> tuple[torch.Tensor, Transform]:
        """Turn ``[N, 3, H, W]`` images in [0, 1] into the model's declared input; the transform maps boxes back."""
        return prepare_input(images, self.spec.input)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, *, where: BatchWhere | None = None) -> torch.Tensor | BatchDetections:
        """Predict on a batch; detection boxes come back in the coordinates of ``images``.

        ``where`` names the images in error messages; a model that raises, exits or breaks the
        output contract ends in a ModelError on this call.
        """
        where = where or BatchWhere()
        x, transform = self.prepare(images)
        try:
            out = self.fn(x)
        except (Exception, SystemExit) as exc:  # the user's model may raise anything, even sys.exit
            cause = exception_cause(exc)
            verb = cause if isinstance(exc, SystemExit) else f"raised {cause}"
            raise ModelError(
                f"model {self.name!r} {verb} on {where}, input {list(x.shape)}; "
                "finished batches are saved — fix the model and run the same command again"
            ) from None
        if self.spec.output is not None:
            return self._declared(out, transform, where)
        if self.task == "classification":
            return self._logits(out, x.shape[0], where)
        return self._detections(out, x.shape[0], transform, where)

    def _declared(self, out: object, transform: Transform, where: BatchWhere) -> torch.Tensor | BatchDetections:
        """Decode an output of a declared format (``output:``), then check it as any other model's."""
        output = self.spec.output
        assert output is not None  # noqa: S101 - the caller's branch
        if (output.format in CLASSIFICATION_FORMATS) != (self.task == "classification"):
            raise ModelError(f"model {self.name!r}: output format {output.format!r} does not fit a {self.task} spec; use "
                             f"{' or '.join(CLASSIFICATION_FORMATS if self.task == 'classification' else DETECTION_FORMATS)}")
        said = f"model {self.name!r} on {where}"
        result = decode_output(out, output, transform, classes=self.classes, mapping=self.mapping, where=said)
        if isinstance(result, torch.Tensor):
            return self._logits(result, result.shape[0], where)
        dets = BatchDetections(result.index.to(self.device), result.boxes.to(self.device).float(),
                               result.scores.to(self.device).float(), result.labels.to(self.device).long())
        self._check_values(dets.boxes, dets.scores, dets.labels, dets.index, where)
        return dets

    def _fail(self, where: BatchWhere, got: str, expected: str, *, image: int | None = None) -> ModelError:
        """``model 'm' returned <got> on <point>, <images>; expected <expected>``."""
        images = where.batch() if image is None else where.image(image)
        return ModelError(f"model {self.name!r} returned {got} on {where.point()}, {images}; expected {expected}")

    def _logits(self, out: object, n: int, where: BatchWhere) -> torch.Tensor:
        k = len(self.classes)
        expected = f"logits [{n}, {k}] (one per dataset class, in its order)" if k else f"logits [{n}, num_classes]"
        if (
            not isinstance(out, torch.Tensor)
            or out.ndim != 2
            or out.shape[0] != n
            or out.shape[1] == 0
            or (k and out.shape[1] != k)
            or out.dtype == torch.bool
            or out.is_complex()
        ):
            hint = ""
            if isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[0] == n and k and out.shape[1] not in (0, k):
                hint = f"; the dataset has {k} classes ({_class_list(self.classes)}) and the model's must be the same"
            raise self._fail(where, _shape(out), expected + hint)
        logits = out.float()
        finite = torch.isfinite(logits).all(dim=1)
        if not bool(finite.all()):
            i = int((~finite).nonzero()[0])
            raise self._fail(
                where, f"NaN or infinite logits ({int((~finite).sum())} of {n} images of the batch)", "finite logits", image=i
            )
        return logits

    def _detections(self, out: object, n: int, transform: Transform, where: BatchWhere) -> BatchDetections:
        if not isinstance(out, (list, tuple)) or len(out) != n or not all(isinstance(d, dict) for d in out):
            got = f"a list of {len(out)}" if isinstance(out, (list, tuple)) else _shape(out)
            raise self._fail(where, got, f"a list of {n} dicts with boxes [K, 4], scores [K] and labels [K], one per image")
        parts = [self._image_tensors(d, where, i) for i, d in enumerate(out)]
        counts = torch.tensor([len(p[1]) for p in parts], device=self.device)
        index = torch.repeat_interleave(torch.arange(n, device=self.device), counts)
        boxes = torch.cat([p[0].to(self.device).float() for p in parts])
        scores = torch.cat([p[1].to(self.device).float() for p in parts])
        raw_labels = torch.cat([p[2].to(self.device) for p in parts])
        self._check_values(boxes, scores, raw_labels, index, where)
        # boxes in model-input pixels → the image's (undoing a letterbox); not clipped, as before conventions existed
        return BatchDetections(index, transform.to_original(boxes, index, clip=False).to(self.device), scores, raw_labels.long())

    def _image_tensors(self, d: dict, where: BatchWhere, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One image's boxes, scores and labels with their shapes checked (no device sync).

        Never reshaped: boxes ``[K, 5]`` are an error, not ``[5K/4, 4]``; only an empty ``[0]`` becomes ``[0, 4]``.
        """
        expected = "tensors boxes [K, 4] (xyxy), scores [K] and labels [K] of one length K"
        missing = [key for key in ("boxes", "scores", "labels") if not isinstance(d.get(key), torch.Tensor)]
        if missing:
            got = ", ".join(f"{key} as {_shape(d[key])}" for key in missing if key in d) or f"a dict with keys {sorted(map(str, d))}"
            raise self._fail(where, got, expected, image=i)
        b, s, lab = d["boxes"], d["scores"], d["labels"]
        if b.ndim == 1 and b.numel() == 0:
            b = b.reshape(0, 4)
        if b.ndim != 2 or b.shape[1] != 4 or s.ndim != 1 or lab.ndim != 1 or not (b.shape[0] == s.shape[0] == lab.shape[0]):
            got = f"boxes {list(b.shape)}, scores {list(s.shape)}, labels {list(lab.shape)}"
            raise self._fail(where, got, expected, image=i)
        if any(t.is_complex() or t.dtype == torch.bool for t in (b, s, lab)):
            got = f"boxes of {b.dtype}, scores of {s.dtype}, labels of {lab.dtype}"
            raise self._fail(where, got, "real-valued boxes and scores and integer labels", image=i)
        return b, s, lab

    def _check_values(
        self, boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, index: torch.Tensor, where: BatchWhere
    ) -> None:
        """Finite boxes and scores, whole-number labels among the dataset's category ids: one sync per batch."""
        nonfinite = ~(torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores))
        fractional = ~(torch.isfinite(labels) & (labels == labels.round())) if labels.is_floating_point() else torch.zeros_like(nonfinite)
        unknown = ~torch.isin(labels.long(), self._category_ids) if len(self.classes) else torch.zeros_like(nonfinite)
        unknown &= ~fractional
        flags = torch.stack([nonfinite.any(), fractional.any(), unknown.any()]).tolist()
        if not any(flags):
            return
        bad = (nonfinite, fractional, unknown)[flags.index(True)]
        rows = bad.nonzero().flatten()
        image = int(index[rows[0]])
        in_image = rows[index[rows] == image]
        if flags[0]:
            got = f"NaN or infinite boxes or scores ({len(in_image)} of {int((index == image).sum())} detections)"
            raise self._fail(where, got, "finite boxes and scores", image=image)
        values = sorted(set(labels[in_image].tolist()))[:5]
        if flags[1]:
            raise self._fail(where, f"labels {', '.join(f'{v:g}' for v in values)}", "whole-number category ids", image=image)
        raise self._fail(
            where,
            f"labels {', '.join(str(int(v)) for v in values)}",
            f"the dataset's category ids ({_class_list(self.classes)}); map the model's classes to them",
            image=image,
        )


def _class_list(classes: dict[int, str], limit: int = 8) -> str:
    items = [f"{i}: {name}" for i, name in sorted(classes.items())]
    return ", ".join(items[:limit]) + (f", … ({len(items)} in all)" if len(items) > limit else "")


def contract_classes(dataset: Dataset | None) -> dict[int, str]:
    """The classes a model's output is checked against: a classifier's logits always, a detector's
    labels only on labelled data (unlabelled images have no category ids to map to)."""
    if dataset is None or (dataset.task == "detection" and not dataset.labelled):
        return {}
    return dict(dataset.classes)


def load_model(
    spec: ModelSpec, root: Path, device: torch.device, task: str, *, dataset: Dataset | None = None
) -> Adapter:
    """Load a model of any registered kind onto ``device``; its output is checked against ``dataset``'s classes."""
    kind = find_kind(spec.kind)
    if kind is None:
        raise ModelError(f"model {spec.name!r}: unknown kind {spec.kind!r}; known: {', '.join(kind_names())}")
    return Adapter(spec, kind.load(spec, root, device), device, task, contract_classes(dataset))
