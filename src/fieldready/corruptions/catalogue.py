"""Pure helpers behind the CLI's ``corruptions`` and ``corrupt`` commands: the catalogue table, image files, previews."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from fieldready.corruptions import all_corruptions, corrupt, get
from fieldready.errors import DataError

__all__ = ["catalogue_rows", "format_catalogue", "load_image", "save_image", "corrupt_file", "preview_grid"]


def _num(v: float) -> str:
    return f"{v:.4g}"


def catalogue_rows() -> list[dict]:
    """One dict per registered corruption, sorted by family then name, with everything a user chooses by."""
    return [
        {
            "name": c.name,
            "family": c.family,
            "unit": c.unit,
            "valid_range": c.valid_range,
            "levels": c.levels,
            "identity": c.identity,
            "geometric": c.geometric,
            "needs_boxes": c.needs_boxes,
            "spatial": c.spatial,
            "imagenet_c": c.imagenet_c,
            "description": c.description,
        }
        for c in all_corruptions()
    ]


def format_catalogue() -> str:
    """The catalogue as a plain-text table; ``*`` marks the 15 ImageNet-C corruptions, ``boxes`` the geometric ones."""
    header = ("name", "family", "levels 1–5", "range", "scales with size", "flags", "unit")
    rows = []
    for r in catalogue_rows():
        flags = ",".join(f for f, on in (("imagenet-c", r["imagenet_c"]), ("boxes", r["geometric"]), ("needs-boxes", r["needs_boxes"])) if on)
        rows.append(
            (
                r["name"],
                r["family"],
                " ".join(_num(v) for v in r["levels"]),
                f"[{_num(r['valid_range'][0])}, {_num(r['valid_range'][1])}]",
                ",".join(r["spatial"]) or "-",
                flags or "-",
                r["unit"],
            )
        )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def load_image(path: str | Path) -> torch.Tensor:
    """Read an image file as float RGB ``[1, 3, H, W]`` in [0, 1]; DataError naming the file if it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such image file; check the path")
    bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataError(f"{p}: cannot decode the image; use a PNG, JPEG, BMP or TIFF file")
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div_(255.0)


def save_image(tensor: torch.Tensor, path: str | Path) -> Path:
    """Write ``[1, 3, H, W]`` or ``[3, H, W]`` float RGB in [0, 1] to an image file (format from the extension)."""
    p = Path(path)
    img = tensor.detach()
    if img.dim() == 4:
        img = img[0]
    if img.dim() != 3 or img.shape[0] != 3:
        raise DataError(f"{p}: expected an image tensor [1, 3, H, W] or [3, H, W], got {tuple(tensor.shape)}")
    arr = (img.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()[..., ::-1]
    if not cv2.haveImageWriter(str(p)):
        raise DataError(f"{p}: OpenCV cannot write images with this extension; use a .png or .jpg path")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        ok = cv2.imwrite(str(p), np.ascontiguousarray(arr))
    except (cv2.error, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "OpenCV refused the file"
        raise DataError(f"{p}: cannot write the image ({reason}); use a .png or .jpg path in a writable folder") from None
    if not ok:
        raise DataError(f"{p}: cannot write the image; use a .png or .jpg path in a writable folder")
    return p


def corrupt_file(
    image: str | Path,
    out: str | Path,
    name: str,
    *,
    severity: float | None = None,
    level: int | None = None,
    seed: int = 0,
) -> Path:
    """Corrupt one image file and write the result to ``out``; returns ``out``."""
    images = load_image(image)
    return save_image(corrupt(images, name, severity=severity, level=level, seed=seed).images, out)


def _label(tile: np.ndarray, text: str) -> None:
    """Write ``text`` on a dark band at the top of ``tile`` (uint8 BGR, in place)."""
    tile[:16] = (tile[:16] * 0.35).astype(np.uint8)
    cv2.putText(tile, text, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)


def preview_grid(
    image: str | Path,
    out: str | Path,
    *,
    names: Sequence[str] | None = None,
    seed: int = 0,
    tile: int = 160,
) -> Path:
    """Render a grid: one row per corruption, columns clean then levels 1–5, each tile labelled with name and severity."""
    images = load_image(image)
    h, w = images.shape[-2:]
    s = tile / max(h, w)
    th, tw = max(1, round(h * s)), max(1, round(w * s))
    chosen = list(names) if names is not None else [c.name for c in all_corruptions() if not c.needs_boxes]
    rows = []
    for name in chosen:
        corruption = get(name)
        tiles = []
        for col in range(6):
            t = images if col == 0 else corrupt(images, name, level=col, seed=seed).images
            arr = (t[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()[..., ::-1]
            arr = np.ascontiguousarray(cv2.resize(arr, (tw, th), interpolation=cv2.INTER_AREA))
            _label(arr, f"{name} clean" if col == 0 else f"L{col}: {_num(corruption.level(col))}")
            tiles.append(arr)
        rows.append(np.concatenate(tiles, axis=1))
    grid = np.concatenate(rows, axis=0)[..., ::-1]
    return save_image(torch.from_numpy(np.ascontiguousarray(grid)).permute(2, 0, 1).float() / 255.0, out)
