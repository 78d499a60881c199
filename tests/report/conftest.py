"""Realistic ``Results`` fixtures for the report tests: a 3-model detection run and a classification run.

Built by hand like the judge's numbers, then read by the judge (``readings.read``) for the figures
the report shows beside them, as ``build_results`` does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fieldready.judge.readings import read
from fieldready.judge.results import (
    ClassResult,
    Comparison,
    ConditionInfo,
    ConditionResult,
    CriterionResult,
    GalleryItem,
    ModelResult,
    Provenance,
    Recommendation,
    Results,
)
from fieldready.report.gallery import draw_classification, draw_detections

SPEC_TEXT = """\
fieldready: 1
name: ppe-detector-release
task: detection
dataset: {format: coco, images: data/images, annotations: data/val.json}
models:
  - {name: model-a, kind: torchscript, path: models/a.pt}
  - {name: model-b, kind: torchscript, path: models/b.pt}
  - {name: model-c, kind: python, entrypoint: "mypkg.models:load_c"}
baseline: model-a
conditions:
  - {corruption: gaussian_blur, severity: {min: 0.5, max: 3.0, steps: 5}, frequency: 0.20}
  - {corruption: jpeg, severity: {min: 95, max: 20, steps: 4}, frequency: 0.30}
  - {corruption: gaussian_noise, severity: {levels: [1, 3, 5]}, frequency: 0.15}
  - {corruption: brightness, severity: {levels: [1, 3, 5]}, frequency: 0.15}
  - {corruption: fog, severity: {levels: [1, 2, 3, 4]}, frequency: 0.10}
  - {name: night, compose: [{corruption: brightness, severity: -0.4},
                            {corruption: gaussian_noise, severity: 0.08}], frequency: 0.10}
criteria:
  - {metric: map, on: clean, at_least: 0.45}
  - {metric: map, on: gaussian_blur, max_drop: 0.10}
  - {metric: rpc, at_least: 0.70}
  - {metric: production_score, at_least: 0.40, confidence: 0.95}
  - {metric: ap, class: person, on: night, at_least: 0.30, severity: warning}
report: {title: PPE detector release readiness, signoff: [{role: ML lead}, {role: Safety officer}]}
run: {device: auto, seed: 0, batch_size: auto}
"""

CONDITIONS = [
    # name, family, frequency, severity labels, severity values, unit
    ("gaussian_blur", "blur", 0.20, [0.5, 1.125, 1.75, 2.375, 3.0], "σ px"),
    ("jpeg", "digital", 0.30, [95, 70, 45, 20], "quality"),
    ("gaussian_noise", "noise", 0.15, [0.08, 0.18, 0.38], "σ"),
    ("brightness", "digital", 0.15, [0.1, 0.3, 0.5], "ΔV"),
    ("fog", "weather", 0.10, [1, 2, 3, 4], "level"),
    ("night", "composed", 0.10, [None], ""),
]
CLASSES = {0: "person", 1: "helmet", 2: "vest", 3: "forklift"}

# Paired differences vs the baseline model-a (model − baseline): clean mAP and production score with CIs.
COMPARISONS = {
    "model-b": dict(clean_difference=0.01, clean_ci=[-0.012, 0.031], production_difference=0.03,
                    production_ci=[0.008, 0.052]),
    "model-c": dict(clean_difference=-0.03, clean_ci=[-0.051, -0.009], production_difference=-0.04,
                    production_ci=[-0.065, -0.015]),
}


def _counts(i: int, rank: int) -> dict[str, float]:
    """Detection confusion counts as results.json stores them (floats holding whole numbers)."""
    missed = 3 + i + rank
    return {"tp": float(40 - 3 * i), "fp": float(2 + rank), "fn": float(missed), "wrong_class": float(i % 3)}

# Per model: clean mAP and sensitivity per family (drop per unit of normalised severity).
MODELS = {
    "model-a": (0.52, {"blur": 0.10, "digital": 0.06, "noise": 0.12, "weather": 0.08, "composed": 0.14}),
    "model-b": (0.53, {"blur": 0.22, "digital": 0.05, "noise": 0.06, "weather": 0.10, "composed": 0.12}),
    "model-c": (0.49, {"blur": 0.09, "digital": 0.07, "noise": 0.11, "weather": 0.07, "composed": 0.16}),
}


def _png(tmp: Path, name: str, data: bytes) -> str:
    (tmp / "gallery").mkdir(parents=True, exist_ok=True)
    (tmp / "gallery" / name).write_bytes(data)
    return f"gallery/{name}"


def _scene(seed: int, blur: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((120, 160, 3), 90, np.uint8)
    img[40:110, 30:70] = (200, 120, 60)
    img[20:60, 90:150] = (60, 140, 200)
    img = np.clip(img.astype(int) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
    if blur:
        img = (img.astype(int) // 2 + 60).astype(np.uint8)
    return img


def _criteria(name: str, clean: float, blur_drop: float, rpc: float, prod: float) -> list[CriterionResult]:
    ci = {"model-a": [0.41, 0.47], "model-b": [0.44, 0.50], "model-c": [0.37, 0.43]}[name]
    return [
        CriterionResult(id="clean-map", description="mAP on clean images", metric="map", scope="clean",
                        kind="at_least", threshold=0.45, value=clean, passed=clean >= 0.45, ci=[clean - 0.02, clean + 0.02],
                        confidence=0.95),
        CriterionResult(id="blur-drop", description="mAP drop under gaussian blur", metric="map",
                        scope="gaussian_blur", kind="max_drop", threshold=0.10, value=blur_drop,
                        passed=blur_drop <= 0.10, ci=[blur_drop - 0.015, blur_drop + 0.015], confidence=0.95),
        CriterionResult(id="rpc", description="relative performance under corruption", metric="rpc",
                        scope="all conditions", kind="at_least", threshold=0.70, value=rpc, passed=rpc >= 0.70),
        CriterionResult(id="production", description="production-weighted mAP", metric="production_score",
                        scope="production mix", kind="at_least", threshold=0.40, value=prod,
                        passed=None if ci[0] < 0.40 < ci[1] else ci[0] >= 0.40, ci=ci, confidence=0.95,
                        note="bootstrap, 1000 resamples"),
        CriterionResult(id="person-night", description="person AP at night", metric="ap", scope="person@night",
                        kind="at_least", threshold=0.30, value=0.27 if name == "model-c" else 0.33,
                        passed=name != "model-c", blocking=False),
    ]


def make_detection_results(run_dir: Path, *, model_names: dict[str, str] | None = None) -> Results:
    """Three detectors — GO (model-a), NO-GO (model-b, blur), INCONCLUSIVE (model-c, production CI)."""
    rename = model_names or {}
    models = []
    for rank, (name, (clean, sens)) in enumerate(MODELS.items(), start=1):
        conds, fam_vals = [], {}
        for cname, fam, _, sevs, _ in CONDITIONS:
            vals = []
            for k, sev in enumerate(sevs):
                frac = (k + 1) / len(sevs)
                v = round(clean - sens[fam] * frac, 4)
                vals.append(v)
                conds.append(ConditionResult(
                    condition=cname, corruption=cname if cname != "night" else "brightness+gaussian_noise",
                    severity=None if sev is None else float(sev), level=None,
                    label="night" if sev is None else f"{sev:g}",
                    metrics={"map": v, "ap50": round(v + 0.2, 4)}))
            fam_vals.setdefault(fam, []).extend(vals)
        families = {f: round(float(np.mean(v)), 4) for f, v in fam_vals.items()}
        blur_drop = round(clean - np.mean([c.metrics["map"] for c in conds if c.condition == "gaussian_blur"]), 4)
        mpc = round(float(np.mean([c.metrics["map"] for c in conds])), 4)
        prod = {"model-a": 0.44, "model-b": 0.47, "model-c": 0.40}[name]
        display = rename.get(name, name)
        gallery = [GalleryItem(
            image_id=17 + rank, condition="gaussian_blur", label="σ 3 px", score=0.62 - 0.1 * rank,
            clean_png=_png(run_dir, f"{name}-clean.png", draw_detections(
                _scene(rank), gt_boxes=[[30, 40, 70, 110], [90, 20, 150, 60]], gt_labels=[0, 1],
                boxes=[[32, 42, 69, 108], [92, 22, 148, 61]], scores=[0.91, 0.84], labels=[0, 1], class_names=CLASSES)),
            corrupted_png=_png(run_dir, f"{name}-blur.png", draw_detections(
                _scene(rank, blur=True), gt_boxes=[[30, 40, 70, 110], [90, 20, 150, 60]], gt_labels=[0, 1],
                boxes=[[20, 30, 80, 100]], scores=[0.35], labels=[2], class_names=CLASSES)),
            caption="person missed, helmet confused with vest")]
        models.append(ModelResult(
            name=display, kind="torchscript" if name != "model-c" else "python", file_hash=f"sha256:{rank:064x}",
            verdict={"model-a": "GO", "model-b": "NO-GO", "model-c": "INCONCLUSIVE"}[name], rank=rank,
            production_score=prod, production_ci={"model-a": [0.41, 0.47], "model-b": [0.44, 0.50],
                                                  "model-c": [0.37, 0.43]}[name],
            clean={"map": clean, "ap50": round(clean + 0.22, 4), "ap75": round(clean - 0.05, 4), "ar100": 0.61},
            robustness={"mpc": mpc, "rpc": round(mpc / clean, 4), "mce": round(1.0 + 0.1 * (rank - 1), 4),
                        "flip_rate": 0.05 * rank},
            families=families,
            per_class=[ClassResult(class_id=i, name=n, metrics={"ap": round(clean + 0.03 * (i - 1.5), 4),
                                                               "ap50": round(clean + 0.2, 4), **_counts(i, rank)},
                                   drop=round(0.04 + 0.03 * ((i + rank) % 4), 4))
                       for i, n in CLASSES.items()],
            criteria=_criteria(name, clean, blur_drop, round(mpc / clean, 4), prod),
            conditions=conds, gallery=gallery,
            comparison=Comparison(against=rename.get("model-a", "model-a"), metric="map", **COMPARISONS[name])
            if name in COMPARISONS else None))
    names = [m.name for m in models]
    return read(Results(
        name="ppe-detector-release", title="PPE detector release readiness", task="detection",
        spec_hash="sha256:" + "ab" * 32, plan_hash="sha256:" + "cd" * 32, primary_metric="map",
        metric_names={"map": "mAP@[.5:.95]", "ap50": "AP50", "ap75": "AP75", "ar100": "AR@100", "mpc": "mPC",
                      "rpc": "rPC", "mce": "mCE", "flip_rate": "flip rate", "ap": "AP"},
        classes={str(k): v for k, v in CLASSES.items()}, baseline=names[0],
        conditions=[ConditionInfo(name=c, corruptions=[c] if c != "night" else ["brightness", "gaussian_noise"],
                                  family=f, frequency=fr, severities=["night"] if s == [None] else [f"{v:g}" for v in s],
                                  unit=u) for c, f, fr, s, u in CONDITIONS],
        models=models,
        recommendation=Recommendation(model=names[0], reason=(
            f"{names[0]} is the only candidate that passes every blocking criterion; {names[1]} has the higher "
            f"production score but loses too much under blur.")),
        signoff=[{"role": "ML lead", "name": "Dana Ortiz"}, {"role": "Safety officer"}, {"role": "Product owner"}],
        provenance=Provenance(
            spec_path="specs/ppe.yaml", spec_text=SPEC_TEXT, spec_hash="sha256:" + "ab" * 32,
            plan_hash="sha256:" + "cd" * 32, data_hash="sha256:" + "ef" * 32,
            model_hashes={n: f"sha256:{i + 1:064x}" for i, n in enumerate(names)},
            versions={"fieldready": "0.1.0", "torch": "2.13.0", "numpy": "2.1.0", "python": "3.11.2"},
            device="cpu", seed=0, started="2025-03-01T09:00:00Z", finished="2025-03-01T09:42:17Z",
            duration_s=2537.0, images=500, units=66),
    ))


def make_classification_results(run_dir: Path) -> Results:
    """Two classifiers: one GO, one NO-GO on top-1 under noise."""
    classes = {0: "cat", 1: "dog", 2: "bird"}
    models = []
    for rank, (name, clean, sens) in enumerate([("resnet-s", 0.91, 0.10), ("vit-t", 0.93, 0.25)], start=1):
        conds = [ConditionResult(condition="gaussian_noise", corruption="gaussian_noise", level=lv,
                                 severity=s, label=f"L{lv}", metrics={"top1": round(clean - sens * lv / 5, 4)})
                 for lv, s in [(1, 0.08), (3, 0.18), (5, 0.38)]]
        img = _scene(rank)
        gallery = [GalleryItem(image_id=3, condition="gaussian_noise", label="L5", score=0.9,
                               clean_png=_png(run_dir, f"{name}-c.png", draw_classification(
                                   img, true_label=1, pred_label=1, prob=0.97, class_names=classes)),
                               corrupted_png=_png(run_dir, f"{name}-n.png", draw_classification(
                                   img, true_label=1, pred_label=2, prob=0.55, class_names=classes)))]
        drop = round(sens * 0.6, 4)
        models.append(ModelResult(
            name=name, kind="torchscript", verdict="GO" if rank == 1 else "NO-GO", rank=rank,
            production_score=round(clean - sens / 2, 4), production_ci=None, clean={"top1": clean, "top5": 0.99},
            per_class=[ClassResult(class_id=i, name=n, metrics={"top1": clean}) for i, n in classes.items()],
            criteria=[CriterionResult(id="noise-top1", description="top-1 drop under noise", metric="top1",
                                      scope="gaussian_noise", kind="max_drop", threshold=0.10, value=drop,
                                      passed=drop <= 0.10)],
            conditions=conds, gallery=gallery,
            comparison=None if rank == 1 else Comparison(
                against="resnet-s", metric="top1", clean_difference=0.02, clean_ci=[-0.01, 0.05],
                production_difference=-0.055, production_ci=[-0.08, -0.03], mcnemar_p=0.2101, wins=9, losses=3)))
    return read(Results(
        name="pets", title="Pet classifier readiness", task="classification", spec_hash="sha256:01",
        plan_hash="sha256:02", primary_metric="top1", metric_names={"top1": "top-1 accuracy"},
        conditions=[ConditionInfo(name="gaussian_noise", corruptions=["gaussian_noise"], family="noise",
                                  frequency=1.0, severities=["L1", "L3", "L5"], unit="σ")],
        models=models, recommendation=Recommendation(model="resnet-s", reason="Only GO candidate."),
        provenance=Provenance(spec_path="pets.yaml", spec_text="name: pets\n", spec_hash="sha256:01",
                              plan_hash="sha256:02", data_hash="sha256:03", model_hashes={}, versions={},
                              device="cpu", seed=1, started="2025-01-01T00:00:00Z",
                              finished="2025-01-01T00:01:00Z", duration_s=60.0, images=30, units=6),
    ))


@pytest.fixture
def detection_results(tmp_path: Path) -> Results:
    return make_detection_results(tmp_path)


@pytest.fixture
def classification_results(tmp_path: Path) -> Results:
    return make_classification_results(tmp_path)


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory):
    """One rendered detection report shared by the reader tests (rendering costs ~seconds)."""
    from fieldready.report import render_report

    out = tmp_path_factory.mktemp("report")
    results = make_detection_results(out)
    return results, render_report(results, out)
