"""Measure the conditions of production frames and propose a spec's ``conditions:`` from them.

    frames ──read──▶ Frame ──measure──▶ Measurement ──(vs reference)──▶ QuantityProfile ──▶ Suggestion
                                                                                              │
                               suggested-conditions.yaml, profile.json, profile.html ◀─write─┘

``estimators`` holds the per-image math (blur σ, noise σ, JPEG quality, exposure, contrast, colour
cast, haze), ``measure`` reads folders and videos, ``suggest`` compares with the reference and
writes the suggestion, ``report`` writes the files. ``run_profile`` is what ``fieldready profile`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fieldready.errors import DataError
from fieldready.profile.measure import Measurement, frame_files, measure_frames, read_frames, reference_frames
from fieldready.profile.report import ProfileReport, write_profile
from fieldready.profile.suggest import Suggestion, profile_quantities
from fieldready.profile.suggest import suggest as suggest_conditions
from fieldready.spec import load_spec

__all__ = ["ProfileResult", "run_profile", "profile_measurements"]


@dataclass
class ProfileResult:
    """What ``run_profile`` found and wrote."""

    report: ProfileReport
    paths: dict[str, Path]

    @property
    def suggestion(self) -> Suggestion:
        return self.report.suggestion


def profile_measurements(
    production: list[Measurement], reference: list[Measurement], *, declared: list[dict] | None = None
) -> tuple[dict, Suggestion]:
    """Profiles and suggestion from measurements already taken (the benchmark calls this directly)."""
    profiles = profile_quantities(production, reference)
    return profiles, suggest_conditions(profiles, declared=declared)


def run_profile(
    frames: Path,
    out: Path,
    *,
    reference: Path | None = None,
    spec: Path | None = None,
    sample_fps: float = 1.0,
) -> ProfileResult:
    """Measure ``frames`` against ``reference`` (default: ``spec``'s dataset), suggest conditions, write ``out``."""
    frames, out = Path(frames), Path(out)
    if reference is None and spec is None:
        raise DataError("profile needs a reference: give --reference FOLDER_OR_SPEC or --spec SPEC (its dataset is the reference)")
    declared = None
    if spec is not None:
        loaded = load_spec(spec)
        declared = [c.model_dump(exclude_none=True, by_alias=True) for c in loaded.spec.conditions]
    frame_files(frames)  # a missing or empty folder fails before the reference is read
    ref_frames, ref_desc = reference_frames(reference if reference is not None else spec, sample_fps=sample_fps)  # type: ignore[arg-type]
    ref_measured = measure_frames(ref_frames)
    if not ref_measured:
        raise DataError(f"{reference or spec}: the reference has no frames")
    short_side = int(np.median([min(m.width, m.height) for m in ref_measured]))
    production = measure_frames(read_frames(frames, sample_fps=sample_fps), short_side=short_side)
    if not production:
        raise DataError(f"{frames}: no frame could be read; give a folder of production images or videos")
    profiles, suggestion = profile_measurements(production, ref_measured, declared=declared)
    report = ProfileReport(str(frames), ref_desc, production, ref_measured, profiles, suggestion, str(spec) if spec else None)
    header = [
        f"Suggested by `fieldready profile` from {len(production)} frames of {frames}, against {ref_desc}.",
        "A frame meets a condition beyond the reference's 5th-95th percentile range; frequency = the share beyond in",
        "excess of the reference's own; severity values = 10th/50th/90th percentiles of the shifts fitted to production",
        "(reference-like frames + frames shifted by the corruption), in the catalogue's unit.",
        "Paste it in place of your spec's conditions: block (then check it with `fieldready validate`).",
    ]
    paths = write_profile(report, out, header=header)
    return ProfileResult(report, paths)
