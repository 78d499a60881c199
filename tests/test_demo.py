"""`fieldready demo`: the bundled example end to end, and the story it must tell."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from pypdf import PdfReader

from fieldready.cli import cli


def test_demo_tells_the_story(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    models = results["models"]
    clean = {m["name"]: m["clean"]["map"] for m in models}
    production = {m["name"]: m["production_score"] for m in models}
    verdicts = {m["name"]: m["verdict"] for m in models}
    # similar clean mAP ...
    assert max(clean.values()) - min(clean.values()) <= 0.05, clean
    # ... yet the production mix ranks them differently, or their verdicts differ
    by_clean = sorted(clean, key=clean.get, reverse=True)
    by_production = sorted(production, key=production.get, reverse=True)
    assert by_clean != by_production or len(set(verdicts.values())) > 1
    assert results["recommendation"]["model"] == by_production[0] or verdicts[by_production[0]] != "GO"
    pdf = PdfReader(out / "report.pdf")
    assert len(pdf.pages) >= 5
    first = pdf.pages[0].extract_text()
    for name in clean:
        assert name in first
    assert (out / "report.html").stat().st_size < 10 * 1024 * 1024
    fills = page_fill(out / "report.pdf")
    assert all(f >= 0.25 for f in fills[:-1]), f"near-empty pages (share of the text area used, per page): {fills}"


def page_fill(pdf: Path) -> list[float]:
    """Per page, how far down the text area the lowest word reaches (pdftotext -bbox), running header and
    footer excluded (print.css: 20 mm top, 18 mm bottom margin); charts' and captions' text count."""
    import re
    import shutil
    import subprocess

    tool = shutil.which("pdftotext")
    assert tool, "pdftotext not found; install poppler-utils"
    html = subprocess.run([tool, "-bbox", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    top, bottom = 20 * 72 / 25.4, 18 * 72 / 25.4
    fills = []
    for height, body in re.findall(r'<page width="[\d.]+" height="([\d.]+)">(.*?)</page>', html, re.S):
        h = float(height)
        ys = [y for y in map(float, re.findall(r'yMax="([\d.]+)"', body)) if top < y < h - bottom]
        fills.append(round((max(ys) - top) / (h - top - bottom), 2) if ys else 0.0)
    return fills


def test_digits_demo_shows_mce_flip_rate_and_verdicts(tmp_path: Path) -> None:
    out = tmp_path / "digits"
    result = CliRunner().invoke(cli, ["demo", "--example", "digits", "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert results["baseline"] == "baseline"
    for model in results["models"]:
        assert model["verdict"] in ("GO", "NO-GO", "INCONCLUSIVE")
        assert model["robustness"]["mce"] is not None
        metrics = {c["metric"]: c for c in model["criteria"]}
        assert metrics["flip_rate"]["value"] is not None and metrics["flip_rate"]["ci"] is not None
    baseline = next(m for m in results["models"] if m["name"] == "baseline")
    assert baseline["robustness"]["mce"] == 1.0  # CE of the baseline against itself
    text = (out / "report.html").read_text()
    assert "flip_rate" in text and "mce" in text
