"""Write a profile: ``profile.json`` (every number), ``profile.html`` (one self-contained page) and the YAML.

The page shows, per measured quantity, the production and reference histograms with the reference's
normal range marked, the suggested ``conditions:`` block and, with a spec, the declared conditions
beside the measured ones. Charts are matplotlib figures inlined as SVG; no file is linked.
"""

from __future__ import annotations

import html
import io
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fieldready.errors import DataError
from fieldready.profile.measure import Measurement
from fieldready.profile.suggest import QuantityProfile, Suggestion, conditions_yaml

__all__ = ["ProfileReport", "profile_json", "profile_html", "write_profile", "histogram"]

_QUANTILES = (5, 25, 50, 75, 95)


@dataclass
class ProfileReport:
    """Everything a profile run found, ready to be written."""

    frames_source: str
    reference_source: str
    production: list[Measurement]
    reference: list[Measurement]
    profiles: dict[str, QuantityProfile]
    suggestion: Suggestion
    spec: str | None = None


def _num(x: float | None) -> float | None:
    """A finite float for JSON, else None (results stay strict JSON)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _quantiles(values: np.ndarray) -> dict[str, float | None]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return {f"p{q}": None for q in _QUANTILES}
    return {f"p{q}": _num(x) for q, x in zip(_QUANTILES, np.percentile(v, _QUANTILES))}


def histogram(production: np.ndarray, reference: np.ndarray, *, bins: int = 30) -> dict:
    """Shared bin edges and the counts of production and reference on them (finite values only)."""
    p, r = production[np.isfinite(production)], reference[np.isfinite(reference)]
    both = np.concatenate([p, r])
    if both.size == 0:
        return {"edges": [], "production": [], "reference": []}
    lo, hi = float(both.min()), float(both.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    return {
        "edges": [float(e) for e in edges],
        "production": [int(c) for c in np.histogram(p, edges)[0]],
        "reference": [int(c) for c in np.histogram(r, edges)[0]],
    }


def _resolution(ms: Sequence[Measurement]) -> dict:
    if not ms:
        return {}
    sides = np.array([min(m.width, m.height) for m in ms], dtype=np.float64)
    sizes: dict[str, int] = {}
    for m in ms:
        key = f"{m.width}x{m.height}"
        sizes[key] = sizes.get(key, 0) + 1
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:10]
    return {"short_side": _quantiles(sides), "sizes": dict(top), "resized_to_reference": sum(1 for m in ms if m.scale != 1.0)}


def profile_json(report: ProfileReport) -> dict:
    """Every number of the profile as a JSON-ready dict (strict: no NaN)."""
    quantities = {}
    for key, qp in report.profiles.items():
        q = qp.quantity
        quantities[key] = {
            "label": q.label,
            "unit": q.unit,
            "corruption": q.corruption,
            "typical_reference_value": _num(qp.typical),
            "frames_measured": qp.measured,
            "note": qp.note,
            "production": _quantiles(qp.production),
            "reference": _quantiles(qp.reference),
            "severity": _quantiles(qp.severity),
            "histogram": histogram(qp.production, qp.reference),
            "sides": [
                {
                    "condition": sp.side.name,
                    "direction": "above" if sp.side.direction > 0 else "below",
                    "threshold": _num(sp.threshold),
                    "share": _num(sp.share),
                    "reference_share": _num(sp.reference_share),
                    "frequency": _num(sp.frequency),
                    "frames": sp.count,
                    "severity_p10_p50_p90": [_num(v) for v in sp.severity],
                    "method": sp.method,  # mixture, or tail: counted beyond the range alone
                    "mixture_gain": _num(sp.gain),
                    "mixture_weight": _num(sp.weight),
                }
                for sp in qp.sides
            ],
        }
    kinds: dict[str, int] = {}
    for m in report.production:
        kinds[m.kind] = kinds.get(m.kind, 0) + 1
    frames = []
    for i, m in enumerate(report.production):
        row = {k: (_num(v) if isinstance(v, float) else v) for k, v in m.as_dict().items()}
        row["values"] = {key: _num(qp.production[i]) for key, qp in report.profiles.items()}
        row["conditions"] = [sp.side.name for qp in report.profiles.values() for sp in qp.sides if sp.flagged[i]]
        frames.append(row)
    comparison = [{k: (_num(v) if isinstance(v, float) else v) for k, v in asdict(c).items()} for c in report.suggestion.comparisons]
    return {
        "fieldready_profile": 1,
        "frames": {"source": report.frames_source, "count": len(report.production), "kinds": kinds, "resolution": _resolution(report.production)},
        "reference": {"source": report.reference_source, "count": len(report.reference), "resolution": _resolution(report.reference)},
        "spec": report.spec,
        "normal_range_percentiles": [5, 95],
        "quantities": quantities,
        "suggested_conditions": report.suggestion.conditions,
        "suggestion_comments": report.suggestion.comments,
        "notes": report.suggestion.notes,
        "comparison": comparison,
        "per_frame": frames,
    }


def _chart(qp: QuantityProfile) -> str:
    """An inline SVG histogram of production (filled) over reference (outline), the normal range shaded."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    h = histogram(qp.production, qp.reference)
    fig = Figure(figsize=(4.2, 2.3))
    ax = fig.add_subplot()
    if h["edges"]:
        edges = np.array(h["edges"])
        centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        n_p, n_r = max(sum(h["production"]), 1), max(sum(h["reference"]), 1)
        ax.bar(centres, np.array(h["production"]) / n_p, width=width, color="#d9822b", alpha=0.75, label="production")
        ax.step(edges, np.r_[np.array(h["reference"]) / n_r, 0], where="post", color="#1f4e79", lw=1.4, label="reference")
        for sp in qp.sides:
            if math.isfinite(sp.threshold):
                ax.axvline(sp.threshold, color="#888", ls="--", lw=1)
        ax.legend(fontsize=7, frameon=False)
    else:
        ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(f"{qp.quantity.label} ({qp.quantity.unit if qp.quantity.key not in ('blur', 'noise') else qp.quantity.unit + ', total'})", fontsize=8)
    ax.set_ylabel("share of frames", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})  # the same profile gives the same page
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}td,th{border:1px solid #ddd;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.82em}.grid{display:flex;flex-wrap:wrap;gap:.6em}
.chart{border:1px solid #eee;padding:.3em}.chart svg{width:400px;height:auto}.muted{color:#777;font-size:.9em}
"""


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def profile_html(report: ProfileReport, yaml_text: str) -> str:
    """One self-contained HTML page: summary, suggested block, side by side, histograms, distribution table."""
    e = html.escape
    n_p, n_r = len(report.production), len(report.reference)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>fieldready profile</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>Production conditions: fieldready profile</h1>",
        f"<p>{n_p} production frames from <code>{e(report.frames_source)}</code>, measured against "
        f"{n_r} reference images ({e(report.reference_source)}). A frame meets a condition when it lies beyond the "
        "reference's 5th–95th percentile range; the suggested frequency is the share beyond in excess of the reference's "
        "own (≈ 5 %), corrected for frames the condition leaves inside the range, and the severities are the "
        "10th/50th/90th percentiles of the shifts a mixture fit attributes to the condition (see the README).</p>",
    ]
    if report.suggestion.comparisons:
        parts.append("<h2>Declared in the spec beside the frames</h2><table><tr><th>condition</th><th>declared</th>"
                     "<th class='num'>declared frequency</th><th class='num'>frames beyond</th><th class='num'>reference</th>"
                     "<th class='num'>suggested frequency</th><th>what the frames show</th></tr>")
        for c in report.suggestion.comparisons:
            share = f"{100 * c.share:.0f} %" if c.share is not None else "–"
            ref = f"{100 * c.reference_share:.0f} %" if c.reference_share is not None else "–"
            freq = f"{100 * c.frequency:.0f} %" if c.frequency is not None else "kept"
            parts.append(f"<tr><td>{e(c.name)}</td><td>{e(c.declared)}</td><td class='num'>{100 * c.declared_frequency:.0f} %</td>"
                         f"<td class='num'>{share}</td><td class='num'>{ref}</td><td class='num'>{freq}</td><td>{e(c.sentence)}</td></tr>")
        parts.append("</table>")
    parts.append("<h2>Suggested conditions</h2><p class='muted'>Also written to <code>suggested-conditions.yaml</code>; "
                 "paste it in place of the spec's <code>conditions:</code>.</p>")
    parts.append(f"<pre>{e(yaml_text)}</pre>")
    parts.append("<h2>Distributions</h2><div class='grid'>")
    for qp in report.profiles.values():
        title = f"{qp.quantity.label}" + (f" — {qp.note}" if qp.note else "")
        parts.append(f"<div class='chart'><div class='muted'>{e(title)}</div>{_chart(qp)}</div>")
    parts.append("</div><table><tr><th>quantity</th><th>unit</th><th>catalogue corruption</th><th class='num'>production p5 / p50 / p95</th>"
                 "<th class='num'>reference p5 / p50 / p95</th><th>beyond the reference's range</th></tr>")
    for qp in report.profiles.values():
        q = qp.quantity
        prod, ref = _quantiles(qp.production), _quantiles(qp.reference)
        sides = "; ".join(f"{sp.side.name}: {100 * sp.share:.0f} % (reference {100 * sp.reference_share:.0f} %) → {100 * sp.frequency:.0f} %" for sp in qp.sides)
        parts.append(f"<tr><td>{e(q.label)}</td><td>{e(q.unit)}</td><td>{e(q.corruption or '')}</td>"
                     f"<td class='num'>{_fmt(prod['p5'])} / {_fmt(prod['p50'])} / {_fmt(prod['p95'])}</td>"
                     f"<td class='num'>{_fmt(ref['p5'])} / {_fmt(ref['p50'])} / {_fmt(ref['p95'])}</td><td>{e(sides)}</td></tr>")
    parts.append("</table>")
    res_p, res_r = _resolution(report.production), _resolution(report.reference)
    parts.append("<h2>Resolution</h2><table><tr><th></th><th>most common sizes</th><th class='num'>short side p5 / p50 / p95</th></tr>")
    for label, res in (("production", res_p), ("reference", res_r)):
        if res:
            sizes = ", ".join(f"{k} ({v})" for k, v in res["sizes"].items())
            ss = res["short_side"]
            parts.append(f"<tr><td>{label}</td><td>{e(sizes)}</td><td class='num'>{_fmt(ss['p5'], 4)} / {_fmt(ss['p50'], 4)} / {_fmt(ss['p95'], 4)}</td></tr>")
    parts.append("</table>")
    if res_p.get("resized_to_reference"):
        parts.append(f"<p class='muted'>{res_p['resized_to_reference']} production frames were larger than the reference images and were "
                     "reduced to the reference's size before blur and noise were measured (as a model's resize does).</p>")
    for note in report.suggestion.notes:
        parts.append(f"<p class='muted'>Note: {e(note)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the outputs are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_profile(report: ProfileReport, out: Path, *, header: Sequence[str] = ()) -> dict[str, Path]:
    """Write ``suggested-conditions.yaml``, ``profile.json`` and ``profile.html`` into ``out`` (created)."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{out}: cannot create the output folder ({exc.strerror or exc}); choose another -o") from None
    if not out.is_dir():
        raise DataError(f"{out}: not a folder; choose another -o")
    yaml_text = conditions_yaml(report.suggestion, header=header)
    paths = {"yaml": out / "suggested-conditions.yaml", "json": out / "profile.json", "html": out / "profile.html"}
    try:
        _write_atomic(paths["yaml"], yaml_text)
        _write_atomic(paths["json"], json.dumps(profile_json(report), indent=1, allow_nan=False) + "\n")
        _write_atomic(paths["html"], profile_html(report, yaml_text))
    except OSError as exc:
        raise DataError(f"{out}: cannot write the profile ({exc.strerror or exc}); check permissions and free space") from None
    return paths
