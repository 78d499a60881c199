"""Train the three candidate digit classifiers of the example and check their robustness quickly.

    python examples/digits/prepare.py   # once: the committed evaluation split (data/)
    python examples/digits/train.py     # 1–2 min on one CPU thread; writes models/*.pt, models/metrics.json

(torch.jit.script reads this file's source when saving: do not edit it while it runs.)

Models (plain torch, fixed seeds, one CPU thread so the run is repeatable and cheap on a shared box):
  * ``baseline``  — multinomial logistic regression on the 32×32×3 pixels: the current champion and
                    the mCE reference;
  * ``cnn-small`` — a LeNet-style CNN (3 conv+pool stages, flatten, 2 linear layers), clean training;
  * ``cnn-aug``   — the same architecture and schedule, trained with random shifts (≤ 3 px), gaussian
                    blur (σ ≤ 1.5 px) and gaussian noise (σ ≤ 0.3).

The model contract (what ``spec.yaml``'s ``kind: torchscript`` models obey): ``forward`` takes float32
``[N, 3, H, W]`` RGB in [0, 1] (H = W = 32 here) and returns logits ``[N, 10]`` in the order of the
dataset's classes (sorted folder names "0".."9"). Normalisation lives inside the saved module.

The evaluation numbers are computed by reloading the saved TorchScript files and running them on
the committed PNGs, so ``metrics.json`` describes exactly the committed artefacts. Two tables:
  * the quick check, with small local corruptions (zero-filled integer shifts in the 4 axis
    directions, reflect-padded separable gaussian blur, per-channel gaussian noise clipped to [0, 1]);
  * an estimate of ``spec.yaml``'s grid made with fieldready's own corruption engine
    (``fieldready.corruptions.apply``: translate in a random direction with bilinear resampling,
    rotate with a random sign, …), with CE / mCE against the baseline, the translate flip rate, the
    production score and 95 % bootstrap intervals — the numbers the spec's thresholds were chosen from.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent


def _load_prepare():
    """prepare.py beside this file, under a private module name (other examples have a prepare.py too)."""
    spec = importlib.util.spec_from_file_location("_fieldready_example_digits_prepare", HERE / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prepare = _load_prepare()  # the same split and image making as the committed data

warnings.filterwarnings("ignore", category=DeprecationWarning, module="torch.jit")

MODEL_NAMES = ["baseline", "cnn-small", "cnn-aug"]
SEED = 0


# --------------------------------------------------------------------------------------------- data
def to_tensor(images_u8: np.ndarray) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` → float32 ``[N, 3, H, W]`` in [0, 1] (the contract's input)."""
    return torch.from_numpy(np.ascontiguousarray(images_u8)).permute(0, 3, 1, 2).float().div_(255.0)


def load_imagefolder(root: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The class-per-folder dataset at ``root``: images, labels (index in sorted class list), paths."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if classes != prepare.CLASSES:
        raise SystemExit(f"{root}: expected class folders {prepare.CLASSES}, found {classes}; run prepare.py")
    imgs, labels, paths = [], [], []
    for label, c in enumerate(classes):
        for p in sorted((root / c).glob("*.png")):
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is None:
                raise SystemExit(f"{p}: not a readable image")
            imgs.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            labels.append(label)
            paths.append(str(p.relative_to(root)))
    return to_tensor(np.stack(imgs)), torch.tensor(labels), paths


def train_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """The training split, made in memory exactly like the committed evaluation PNGs."""
    train_idx, _ = prepare.split()
    imgs, labels = prepare.images_uint8(train_idx)
    return to_tensor(imgs), torch.from_numpy(labels)


# -------------------------------------------------------------------------------------- corruptions
def gaussian_noise(x: torch.Tensor, sigma: float, gen: torch.Generator) -> torch.Tensor:
    """Independent N(0, σ²) per pixel and channel on [0, 1], clipped (ImageNet-C style)."""
    return (x + sigma * torch.randn(x.shape, generator=gen)).clamp_(0.0, 1.0)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable gaussian blur, σ in pixels, kernel radius ⌈4σ⌉, reflect padding."""
    if sigma <= 0:
        return x
    r = max(1, math.ceil(4.0 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def translate(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Shift content by (dx, dy) whole pixels (right, down positive); vacated pixels are 0 (background)."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


# The four axis directions a shift of s pixels is measured in (results are the mean over them).
DIRECTIONS = [(1, 0), (-1, 0), (0, 1), (0, -1)]


# ------------------------------------------------------------------------------------------- models
class Normalise(nn.Module):
    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def make_model(name: str, mean: float, std: float) -> nn.Module:
    if name == "baseline":
        body = nn.Sequential(nn.Flatten(), nn.Linear(3 * prepare.SIZE * prepare.SIZE, 10))
    else:
        body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 16×16
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8×8
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4×4
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10),
        )
    return nn.Sequential(Normalise(mean, std), body)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """cnn-aug's training augmentation: each of shift / blur / noise applied to ~half the batch."""
    n = x.shape[0]
    x = x.clone()
    # random integer shift in [-3, 3]² for half the images
    for i in torch.nonzero(torch.rand(n, generator=gen) < 0.5).flatten().tolist():
        dx, dy = torch.randint(-3, 4, (2,), generator=gen).tolist()
        x[i : i + 1] = translate(x[i : i + 1], dx, dy)
    # gaussian blur σ ~ U(0.3, 1.5) for half the images (one σ per batch keeps it cheap)
    sel = torch.rand(n, generator=gen) < 0.5
    if sel.any():
        sigma = 0.3 + 1.2 * float(torch.rand(1, generator=gen))
        x[sel] = gaussian_blur(x[sel], sigma)
    # gaussian noise σ ~ U(0, 0.3) per image for half the images
    sel = (torch.rand(n, generator=gen) < 0.5).float().view(n, 1, 1, 1)
    sig = 0.3 * torch.rand(n, 1, 1, 1, generator=gen) * sel
    return (x + sig * torch.randn(x.shape, generator=gen)).clamp_(0.0, 1.0)


def train_one(name: str, x: torch.Tensor, y: torch.Tensor, *, epochs: int) -> nn.Module:
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = make_model(name, float(x.mean()), float(x.std()))
    lr, wd = (1e-3, 1e-3) if name == "baseline" else (2e-3, 1e-4)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for b in range(0, len(x), 64):
            idx = perm[b : b + 64]
            xb = augment(x[idx], gen) if name == "cnn-aug" else x[idx]
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return model.eval()


# --------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict(model: torch.jit.ScriptModule | nn.Module, x: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Top-1 class of every image (batches of 128, like spec.yaml's run.batch_size)."""
    return torch.cat([model(x[b : b + batch_size]).argmax(1) for b in range(0, len(x), batch_size)])


def weights_sha256(model) -> str:
    """sha256 of the parameters and buffers (name, dtype, shape, bytes) — stable where the .pt zip is not."""
    h = hashlib.sha256()
    for key, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def top1(pred: torch.Tensor, y: torch.Tensor) -> float:
    return int((pred == y).sum()) / len(y)


def noisy(x: torch.Tensor, sigma: float, key: int) -> torch.Tensor:
    return gaussian_noise(x, sigma, torch.Generator().manual_seed(1000 + key))


def quick_check(model, x: torch.Tensor, y: torch.Tensor) -> dict:
    """The brief's quick table: clean, noise .08/.18, blur σ=1, shift 2 px top-1, flip rate at 1–2 px."""
    clean = predict(model, x)
    shifted = {s: [predict(model, translate(x, dx * s, dy * s)) for dx, dy in DIRECTIONS] for s in (1, 2)}
    return {
        "clean_top1": top1(clean, y),
        "clean_correct": int((clean == y).sum()),
        "noise_0.08_top1": top1(predict(model, noisy(x, 0.08, 8)), y),
        "noise_0.18_top1": top1(predict(model, noisy(x, 0.18, 18)), y),
        "blur_1_top1": top1(predict(model, gaussian_blur(x, 1.0)), y),
        "shift_2_top1": float(np.mean([top1(p, y) for p in shifted[2]])),
        "flip_rate_shift_1_2": float(np.mean([float((p != clean).float().mean()) for s in (1, 2) for p in shifted[s]])),
    }


# spec.yaml's conditions (severities expanded; tests/examples/test_digits_example.py checks they agree),
# for choosing its thresholds from measured numbers: condition → (frequency, severities).
SPEC_CONDITIONS: dict[str, tuple[float, list[float]]] = {
    "gaussian_noise": (0.05, [0.08, 0.18, 0.38]),  # ImageNet-C levels 1, 3, 5
    "gaussian_blur": (0.10, [0.5, 1.5, 2.5]),
    "translate": (0.20, [1, 2]),
    "rotate": (0.10, [5, 10, 15]),
    "contrast": (0.05, [0.3, 0.2, 0.1]),
}


DRAWS = 4  # random draws per spec point (noise, shift direction, rotation sign), averaged


def corrupt_variants(cond: str, s: float, x: torch.Tensor) -> list[torch.Tensor]:
    """The images of one spec point, made by fieldready's own corruption engine (as ``fieldready run``
    will make them, up to the per-image seeds): ``DRAWS`` independent draws, whose results are averaged."""
    from fieldready.corruptions import apply  # the example's estimate follows the engine's semantics
    from fieldready.rng import ImageRNG

    return [
        apply(x, cond, float(s), ImageRNG.from_seed(SEED + 100 * d, len(x))).images for d in range(DRAWS)
    ]


def _aggregate(c_clean: dict, c_cor: dict, flips: dict, idx: np.ndarray) -> dict:
    """Metrics of every model on the images ``idx`` (a bootstrap resample, or all images)."""
    out: dict = {}
    mix = sum(f for f, _ in SPEC_CONDITIONS.values())
    for name in c_clean:
        top = {c: {s: float(v[idx].mean()) for s, v in pts.items()} for c, pts in c_cor[name].items()}
        clean_acc = float(c_clean[name][idx].mean())
        # production score, assuming the share of production not covered by a condition is clean
        prod = (1 - mix) * clean_acc + sum(
            f * float(np.mean(list(top[c].values()))) for c, (f, _) in SPEC_CONDITIONS.items()
        )
        out[name] = {"clean": clean_acc, "top1": top, "translate_flip_rate": float(flips[name][idx].mean()),
                     "production_score": prod}
    base = out["baseline"]["top1"]
    for name in out:
        ce = {}
        for c in base:
            denominator = sum(1 - v for v in base[c].values())
            ce[c] = sum(1 - v for v in out[name]["top1"][c].values()) / denominator if denominator else float("nan")
        out[name]["ce"] = ce
        out[name]["mce"] = float(np.nanmean(list(ce.values())))
    return out


def spec_estimate(models: dict, x: torch.Tensor, y: torch.Tensor, *, resamples: int = 1000) -> dict:
    """Top-1 per (condition, severity), CE / mCE vs baseline, translate flip rate, production score.

    Each judged figure gets a 95 % percentile bootstrap interval over images (the same resampled
    images for every model, so the baseline's mCE stays exactly 1).
    """
    c_clean, c_cor, flips = {}, {}, {}
    for name, model in models.items():
        clean = predict(model, x)
        c_clean[name] = (clean == y).double().numpy()
        c_cor[name] = {}
        flip_list = []
        for cond, (_, severities) in SPEC_CONDITIONS.items():
            c_cor[name][cond] = {}
            for s in severities:
                preds = [predict(model, v) for v in corrupt_variants(cond, s, x)]
                c_cor[name][cond][str(s)] = np.mean([(p == y).double().numpy() for p in preds], axis=0)
                if cond == "translate":
                    flip_list += [(p != clean).double().numpy() for p in preds]
        flips[name] = np.mean(flip_list, axis=0)
    out = _aggregate(c_clean, c_cor, flips, np.arange(len(y)))
    rng = np.random.default_rng(SEED)
    boots = [_aggregate(c_clean, c_cor, flips, rng.integers(0, len(y), len(y))) for _ in range(resamples)]
    for name in out:
        for key in ("clean", "mce", "translate_flip_rate", "production_score"):
            lo, hi = np.percentile([b[name][key] for b in boots], [2.5, 97.5])
            out[name][f"{key}_ci95"] = [float(lo), float(hi)]
    return out


# --------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30, help="epochs per CNN (the baseline gets 2×)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-only", action="store_true", help="skip training; evaluate the saved models")
    parser.add_argument("--out", type=Path, default=HERE / "models", help="models and metrics.json (default: %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    out_dir = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    x_eval, y_eval, _ = load_imagefolder(HERE / "data")
    timings = {}
    if not args.eval_only:
        x_train, y_train = train_tensors()
        print(f"train {len(x_train)} images, eval {len(x_eval)} images (committed data/), {args.threads} thread(s)")
        for name in MODEL_NAMES:
            t0 = time.perf_counter()
            model = train_one(name, x_train, y_train, epochs=2 * args.epochs if name == "baseline" else args.epochs)
            torch.jit.save(torch.jit.script(model), str(out_dir / f"{name}.pt"))
            timings[name] = time.perf_counter() - t0
            print(f"  {name}: trained in {timings[name]:.1f} s")

    models = {name: torch.jit.load(str(out_dir / f"{name}.pt")).eval() for name in MODEL_NAMES}
    metrics = {"eval_images": len(x_eval), "models": {}}
    print()
    print("| model | params | file KB | clean top-1 | noise σ=.08 | noise σ=.18 | blur σ=1 | shift 2 px | flip rate, shift 1–2 px |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, model in models.items():
        q = quick_check(model, x_eval, y_eval)
        params = sum(p.numel() for p in model.parameters())
        kb = (out_dir / f"{name}.pt").stat().st_size / 1024
        metrics["models"][name] = {"params": params, "weights_sha256": weights_sha256(model), **q}
        print(
            f"| {name} | {params} | {kb:.0f} | {q['clean_top1']:.6f} ({q['clean_correct']}/{len(y_eval)}) "
            f"| {q['noise_0.08_top1']:.3f} | {q['noise_0.18_top1']:.3f} | {q['blur_1_top1']:.3f} "
            f"| {q['shift_2_top1']:.3f} | {q['flip_rate_shift_1_2']:.3f} |"
        )

    est = spec_estimate(models, x_eval, y_eval)
    metrics["spec_estimate"] = est
    print()
    print(f"Estimate of spec.yaml's grid with fieldready's corruptions (top-1, mean of {DRAWS} random draws per point):")
    conds = list(SPEC_CONDITIONS)
    print("| model | " + " | ".join(f"{c} {s}" for c in conds for s in est["baseline"]["top1"][c]) + " |")
    print("| --- |" + " ---: |" * sum(len(est["baseline"]["top1"][c]) for c in conds))
    for name, e in est.items():
        print(f"| {name} | " + " | ".join(f"{e['top1'][c][s]:.3f}" for c in conds for s in e["top1"][c]) + " |")
    print()
    print("| model | " + " | ".join(f"CE {c}" for c in conds) + " | mCE [95% CI] | translate flip rate [95% CI] | production score [95% CI] |")
    print("| --- |" + " ---: |" * (len(conds) + 3))

    def ci(e: dict, key: str) -> str:
        lo, hi = e[f"{key}_ci95"]
        return f"{e[key]:.3f} [{lo:.3f}, {hi:.3f}]"

    for name, e in est.items():
        print(
            f"| {name} | " + " | ".join(f"{e['ce'][c]:.3f}" for c in conds)
            + f" | {ci(e, 'mce')} | {ci(e, 'translate_flip_rate')} | {ci(e, 'production_score')} |"
        )
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {out_dir / 'metrics.json'}")


if __name__ == "__main__":
    main()
