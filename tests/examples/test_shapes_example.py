"""The bundled `shapes` example: data is reproducible, the models honour the contract, the story holds.

These checks do not use the fieldready pipeline; they read examples/shapes directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

SHAPES = Path(__file__).resolve().parents[2] / "examples" / "shapes"
DATA = SHAPES / "data"
MODELS = {name: SHAPES / "models" / f"{name}.pt" for name in ("model-a", "model-b", "model-c")}


def _load_generate():
    spec = importlib.util.spec_from_file_location("fieldready_example_shapes_generate", SHAPES / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _pixels_sha(path: Path) -> str:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return hashlib.sha256(np.ascontiguousarray(img).tobytes() + str(img.shape).encode()).hexdigest()


@pytest.fixture(scope="module")
def val() -> tuple[torch.Tensor, dict]:
    coco = json.loads((DATA / "val.json").read_text())
    imgs = [cv2.cvtColor(cv2.imread(str(DATA / "images" / im["file_name"])), cv2.COLOR_BGR2RGB)
            for im in coco["images"]]
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255, coco


@pytest.fixture(scope="module")
def models() -> dict[str, torch.jit.ScriptModule]:
    return {name: torch.jit.load(str(p)).eval() for name, p in MODELS.items()}


@contextlib.contextmanager
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the example's models are tiny; more threads only contend on shared CPUs
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _coco_map(model, x: torch.Tensor, coco: dict) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dets = []
    with torch.no_grad(), _one_thread():
        for s in range(0, len(x), 64):
            for j, o in enumerate(model(x[s : s + 64])):
                image_id = coco["images"][s + j]["id"]
                for (x1, y1, x2, y2), sc, lab in zip(o["boxes"].tolist(), o["scores"].tolist(), o["labels"].tolist()):
                    dets.append({"image_id": image_id, "category_id": int(lab),
                                 "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(sc)})
    assert dets, "the model detected nothing on the val split"
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = coco
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def test_committed_val_split_is_what_generate_py_produces(tmp_path: Path) -> None:
    gen = _load_generate()
    committed = json.loads((DATA / "val.json").read_text())
    n = len(committed["images"])
    path = gen.write_split(tmp_path, "val", n, json_name="val.json")
    assert json.loads(path.read_text()) == committed
    for im in committed["images"]:
        name = im["file_name"]
        assert _pixels_sha(tmp_path / "images" / name) == _pixels_sha(DATA / "images" / name), name
    assert sorted(p.name for p in (DATA / "images").iterdir()) == sorted(im["file_name"] for im in committed["images"])


def test_val_split_is_valid_small_coco() -> None:
    coco = json.loads((DATA / "val.json").read_text())
    cat_ids = {c["id"] for c in coco["categories"]}
    assert cat_ids == {1, 2, 3}
    image_ids = {im["id"] for im in coco["images"]}
    assert 150 <= len(image_ids) <= 200
    for a in coco["annotations"]:
        assert a["image_id"] in image_ids and a["category_id"] in cat_ids and a["iscrowd"] == 0
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 128 and y + h <= 128 and a["area"] > 0
    total = sum(p.stat().st_size for p in (DATA / "images").iterdir())
    assert total < 5 * 2**20


@pytest.mark.parametrize("name", list(MODELS))
def test_model_honours_the_contract(name: str, models, val) -> None:
    assert MODELS[name].stat().st_size < 1.5 * 2**20
    model = models[name]
    x, coco = val
    cat_ids = {c["id"] for c in coco["categories"]}
    with torch.no_grad(), _one_thread():
        for batch in (x[:5], torch.rand(2, 3, 96, 160), torch.rand(1, 3, 100, 130)):
            out = model(batch)
            assert isinstance(out, list) and len(out) == batch.shape[0]
            h, w = batch.shape[-2:]
            for d in out:
                assert set(d) == {"boxes", "scores", "labels"}
                k = d["scores"].shape[0]
                assert d["boxes"].shape == (k, 4) and d["boxes"].dtype == torch.float32
                assert d["scores"].shape == (k,) and d["scores"].dtype == torch.float32
                assert d["labels"].shape == (k,) and d["labels"].dtype == torch.int64
                assert torch.isfinite(d["boxes"]).all() and torch.isfinite(d["scores"]).all()
                assert set(d["labels"].tolist()) <= cat_ids
                b = d["boxes"]
                assert (b[:, 0] <= b[:, 2]).all() and (b[:, 1] <= b[:, 3]).all()
                assert (b >= 0).all() and (b[:, [0, 2]] <= w).all() and (b[:, [1, 3]] <= h).all()
                assert ((d["scores"] >= 0) & (d["scores"] <= 1)).all()
        assert len(model(x[:5])[0]["scores"]) > 0


def test_clean_map_of_the_three_models_is_within_005(models, val) -> None:
    x, coco = val
    maps = {name: _coco_map(m, x, coco) for name, m in models.items()}
    assert max(maps.values()) - min(maps.values()) <= 0.05, maps
    assert all(0.3 <= v <= 0.9 for v in maps.values()), maps


def test_model_b_is_clearly_more_robust_to_noise(models, val) -> None:
    """The story: under gaussian noise σ=0.1 model-b keeps ≥ 0.1 mAP more than model-a and model-c."""
    x, coco = val
    noisy = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    maps = {name: _coco_map(m, noisy, coco) for name, m in models.items()}
    assert maps["model-b"] >= maps["model-a"] + 0.1, maps
    assert maps["model-b"] >= maps["model-c"] + 0.1, maps
