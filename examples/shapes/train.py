"""Train the three detectors of the bundled `shapes` example and print their clean / corrupted mAP.

    python examples/shapes/train.py              # trains A, B, C; writes models/model-{a,b,c}.pt
    python examples/shapes/train.py --eval-only  # only prints the table for the committed models

- model-a: no augmentation.
- model-b: photometric augmentation — gaussian blur, gaussian noise, brightness / contrast /
  per-channel colour jitter (each applied to a random share of every batch).
- model-c: model-a's weights fine-tuned with random horizontal and vertical flips.

The training split is generated on the fly (``generate.make_split("train", ...)``) and never
written; the validation split is the committed ``data/val.json`` + ``data/images``. Everything is
seeded, and runs on the CPU on a single thread (see ``--threads``).

The robustness check at the end uses corruptions implemented here, independently of fieldready, so
that the numbers can be compared with what ``fieldready demo`` reports.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import CATEGORIES, make_split  # noqa: E402
from model import STRIDE, TinyCenterNet  # noqa: E402

CATEGORY_IDS = [c["id"] for c in CATEGORIES]
NUM_CLASSES = len(CATEGORY_IDS)

# The recipe. Changing any of these changes the committed weights: re-run and update TRAINING.md.
CONFIG = {
    "train_images": 1000,
    "batch_size": 32,
    "a": {"epochs": 30, "lr": 3e-3, "seed": 1},
    "b": {"epochs": 40, "lr": 3e-3, "seed": 2},
    "c": {"epochs": 5, "lr": 3e-4, "seed": 3},
    "weight_decay": 1e-4,
    # model-b's augmentation: probability and range of each photometric transform
    "aug_b": {
        "blur_p": 0.2, "blur_sigma": (0.5, 2.5),
        "noise_p": 0.2, "noise_sigma": (0.02, 0.15),
        "brightness_p": 0.2, "brightness": (-0.3, 0.3),
        "contrast_p": 0.2, "contrast": (0.3, 1.4),
        "channel_p": 0.15, "channel_gain": (0.75, 1.25),
    },
}


# --------------------------------------------------------------------------------------- targets
def _gaussian_radius(h: float, w: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius for which a shifted box still has IoU ≥ min_overlap (in grid cells)."""
    a1, b1 = 1, h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2 = 4, 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def make_targets(boxes: list[np.ndarray], labels: list[np.ndarray], size: int) -> dict[str, torch.Tensor]:
    """Heatmap / log-size / offset / mask targets on the stride-4 grid for a batch (boxes xyxy px)."""
    g = size // STRIDE
    n = len(boxes)
    hm = np.zeros((n, NUM_CLASSES, g, g), np.float32)
    wh = np.zeros((n, 2, g, g), np.float32)
    off = np.zeros((n, 2, g, g), np.float32)
    mask = np.zeros((n, g, g), np.float32)
    yy, xx = np.mgrid[0:g, 0:g]
    for i in range(n):
        for (x1, y1, x2, y2), lab in zip(boxes[i], labels[i]):
            w, h = (x2 - x1) / STRIDE, (y2 - y1) / STRIDE
            cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
            ix, iy = min(int(cx), g - 1), min(int(cy), g - 1)
            r = max(0.0, _gaussian_radius(h, w))
            sigma = (2 * int(r) + 1) / 6
            gauss = np.exp(-((xx - ix) ** 2 + (yy - iy) ** 2) / (2 * sigma ** 2))
            c = CATEGORY_IDS.index(int(lab))
            np.maximum(hm[i, c], gauss, out=hm[i, c])
            hm[i, c, iy, ix] = 1.0
            wh[i, :, iy, ix] = (math.log(w), math.log(h))
            off[i, :, iy, ix] = (cx - ix, cy - iy)
            mask[i, iy, ix] = 1.0
    return {k: torch.from_numpy(v) for k, v in (("hm", hm), ("wh", wh), ("off", off), ("mask", mask))}


def detection_loss(out: dict[str, torch.Tensor], t: dict[str, torch.Tensor]) -> torch.Tensor:
    """CenterNet loss: penalty-reduced focal loss on the heatmap + L1 on log-size and offset."""
    pred = torch.sigmoid(out["hm"]).clamp(1e-4, 1 - 1e-4)
    gt = t["hm"]
    pos = gt.eq(1).float()
    neg = 1 - pos
    pos_loss = (torch.log(pred) * (1 - pred) ** 2 * pos).sum()
    neg_loss = (torch.log(1 - pred) * pred ** 2 * (1 - gt) ** 4 * neg).sum()
    npos = pos.sum().clamp(min=1)
    focal = -(pos_loss + neg_loss) / npos
    m = t["mask"].unsqueeze(1)
    wh = (F.l1_loss(out["wh"], t["wh"], reduction="none") * m).sum() / npos
    off = (F.l1_loss(out["off"], t["off"], reduction="none") * m).sum() / npos
    return focal + wh + off


# ---------------------------------------------------------------------------------- augmentation
def _gauss_kernel(sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return k / k.sum()


def blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable gaussian blur of ``[N, 3, H, W]`` with reflect padding."""
    k = _gauss_kernel(sigma)
    r = (len(k) - 1) // 2
    c = img.shape[1]
    x = F.pad(img, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def augment_b(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """model-b's photometric augmentation on a batch (boxes unchanged)."""
    cfg = CONFIG["aug_b"]
    n = x.shape[0]

    def u(lo: float, hi: float, size: int = n) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(size, generator=g)

    def pick(p: float) -> torch.Tensor:
        return torch.rand(n, generator=g) < p

    x = x.clone()
    sel = pick(cfg["blur_p"])
    sig = u(*cfg["blur_sigma"])
    for i in torch.nonzero(sel).flatten().tolist():
        x[i : i + 1] = blur(x[i : i + 1], float(sig[i]))
    sel = pick(cfg["brightness_p"]).float().view(n, 1, 1, 1)
    x = x + sel * u(*cfg["brightness"]).view(n, 1, 1, 1)
    sel = pick(cfg["contrast_p"]).float().view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    f = 1 + sel * (u(*cfg["contrast"]).view(n, 1, 1, 1) - 1)
    x = (x - mean) * f + mean
    sel = pick(cfg["channel_p"]).float().view(n, 1, 1, 1)
    gains = u(*cfg["channel_gain"], size=n * 3).view(n, 3, 1, 1)
    x = x * (1 + sel * (gains - 1))
    x = x.clamp(0, 1)
    sel = pick(cfg["noise_p"]).float().view(n, 1, 1, 1)
    x = x + sel * u(*cfg["noise_sigma"]).view(n, 1, 1, 1) * torch.randn(x.shape, generator=g)
    return x.clamp(0, 1)


def flip_batch(x: torch.Tensor, boxes: list[np.ndarray], g: torch.Generator) -> tuple[torch.Tensor, list[np.ndarray]]:
    """model-c's augmentation: random horizontal and vertical flips of images and boxes."""
    n, _, h, w = x.shape
    hf = (torch.rand(n, generator=g) < 0.5).tolist()
    vf = (torch.rand(n, generator=g) < 0.5).tolist()
    x = x.clone()
    out = []
    for i in range(n):
        b = boxes[i].copy()
        if hf[i]:
            x[i] = x[i].flip(-1)
            b[:, [0, 2]] = w - b[:, [2, 0]]
        if vf[i]:
            x[i] = x[i].flip(-2)
            b[:, [1, 3]] = h - b[:, [3, 1]]
        out.append(b)
    return x, out


# -------------------------------------------------------------------------------------- training
def load_train() -> tuple[torch.Tensor, list[np.ndarray], list[np.ndarray]]:
    images, coco = make_split("train", CONFIG["train_images"])
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()  # uint8 [N, 3, H, W]
    boxes = [[] for _ in images]
    labels = [[] for _ in images]
    for a in coco["annotations"]:
        bx, by, bw, bh = a["bbox"]
        boxes[a["image_id"] - 1].append([bx, by, bx + bw, by + bh])
        labels[a["image_id"] - 1].append(a["category_id"])
    return (x, [np.array(b, np.float32).reshape(-1, 4) for b in boxes],
            [np.array(lab, np.int64) for lab in labels])


def train(model: TinyCenterNet, data, *, epochs: int, lr: float, seed: int, mode: str, log: str) -> None:
    x_all, boxes_all, labels_all = data
    g = torch.Generator().manual_seed(seed)
    bs = CONFIG["batch_size"]
    steps_per_epoch = math.ceil(len(x_all) / bs)
    total = epochs * steps_per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=CONFIG["weight_decay"])
    warm = steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    model.train()
    t0 = time.time()
    for ep in range(epochs):
        perm = torch.randperm(len(x_all), generator=g).tolist()
        running = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * bs : (s + 1) * bs]
            x = x_all[idx].float() / 255
            boxes = [boxes_all[i] for i in idx]
            labels = [labels_all[i] for i in idx]
            if mode == "b":
                x = augment_b(x, g)
            elif mode == "c":
                x, boxes = flip_batch(x, boxes, g)
            t = make_targets(boxes, labels, x.shape[-1])
            loss = detection_loss(model.raw(x), t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach())
        if ep % 5 == 4 or ep == epochs - 1:
            print(f"  [{log}] epoch {ep + 1:3d}/{epochs}  loss {running / steps_per_epoch:.3f}  "
                  f"{time.time() - t0:5.0f}s", flush=True)
    model.eval()


# ------------------------------------------------------------------------------------ evaluation
def load_val() -> tuple[torch.Tensor, dict]:
    coco = json.loads((HERE / "data" / "val.json").read_text())
    imgs = [cv2.cvtColor(cv2.imread(str(HERE / "data" / "images" / im["file_name"])), cv2.COLOR_BGR2RGB)
            for im in coco["images"]]
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
    return x, coco


@torch.no_grad()
def coco_map(model: torch.nn.Module, x: torch.Tensor, coco: dict, batch: int = 64) -> float:
    """COCO mAP@[.5:.95] with pycocotools on predictions for images ``x`` (in ``coco['images']`` order)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dets = []
    for s in range(0, len(x), batch):
        for j, o in enumerate(model(x[s : s + batch])):
            image_id = coco["images"][s + j]["id"]
            b = o["boxes"].tolist()
            for (x1, y1, x2, y2), sc, lab in zip(b, o["scores"].tolist(), o["labels"].tolist()):
                dets.append({"image_id": image_id, "category_id": int(lab),
                             "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(sc)})
    if not dets:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def _brightness(x: torch.Tensor, delta: float) -> torch.Tensor:
    """ImageNet-C brightness: add ``delta`` to V in HSV."""
    out = []
    for im in x.permute(0, 2, 3, 1).numpy():
        hsv = cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2HSV)
        hsv[..., 2] = np.clip(hsv[..., 2] + delta, 0, 1)
        out.append(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).clamp(0, 1)


def _noise(x: torch.Tensor, sigma: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def _contrast(x: torch.Tensor, f: float) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * f + mean).clamp(0, 1)


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    out = []
    for im in (x.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(im[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255


CHECKS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "clean": lambda x: x,
    "blur σ=1": lambda x: blur(x, 1.0),
    "blur σ=2": lambda x: blur(x, 2.0),
    "noise σ=.05": lambda x: _noise(x, 0.05),
    "noise σ=.1": lambda x: _noise(x, 0.1),
    "bright +.3": lambda x: _brightness(x, 0.3),
    "contrast ×.3": lambda x: _contrast(x, 0.3),
    "jpeg q=15": lambda x: _jpeg(x, 15),
    "night": lambda x: _noise(_brightness(x, -0.3), 0.08),
}


def table(models: dict[str, torch.nn.Module]) -> str:
    x, coco = load_val()
    variants = {name: fn(x) for name, fn in CHECKS.items()}
    rows = ["| model | " + " | ".join(CHECKS) + " |", "|---" * (len(CHECKS) + 1) + "|"]
    for mname, m in models.items():
        vals = [coco_map(m, xv, coco) for xv in variants.values()]
        rows.append(f"| {mname} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "models")
    ap.add_argument("--eval-only", action="store_true", help="only print the table for the saved models")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared 2-core machine, 2 threads measured 5× slower)")
    ap.add_argument("--models", default="abc", help="which models to train (c starts from the saved model-a)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = {k: args.out / f"model-{k}.pt" for k in "abc"}
    if not args.eval_only:
        args.out.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        data = load_train()
        print(f"generated {len(data[0])} training images in {time.time() - t0:.0f}s", flush=True)
        if "a" in args.models:
            torch.manual_seed(CONFIG["a"]["seed"])
            a = TinyCenterNet(CATEGORY_IDS)
            train(a, data, mode="a", log="model-a", **CONFIG["a"])
            torch.jit.script(a).save(str(paths["a"]))
        if "b" in args.models:
            torch.manual_seed(CONFIG["b"]["seed"])
            b = TinyCenterNet(CATEGORY_IDS)
            train(b, data, mode="b", log="model-b", **CONFIG["b"])
            torch.jit.script(b).save(str(paths["b"]))
        if "c" in args.models:
            c = TinyCenterNet(CATEGORY_IDS)  # starts from model-a's weights
            c.load_state_dict(torch.jit.load(str(paths["a"])).state_dict())
            train(c, data, mode="c", log="model-c", **CONFIG["c"])
            torch.jit.script(c).save(str(paths["c"]))
        print(f"trained {', '.join('model-' + k for k in args.models)} in {time.time() - t0:.0f}s", flush=True)
    models = {f"model-{k}": torch.jit.load(str(p)).eval() for k, p in paths.items() if p.exists()}
    print("\nmAP@[.5:.95] on the committed val split (pycocotools), clean and under local corruptions:\n")
    print(table(models))


if __name__ == "__main__":
    main()
