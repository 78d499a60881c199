"""The report stage: ``Results`` → self-contained HTML and PDF, optional PAdES signature, gallery images."""

from __future__ import annotations

from fieldready.report.gallery import draw_classification, draw_detections
from fieldready.report.render import ReportPaths, load_results, render_report, render_run
from fieldready.report.sign import VerifyResult, make_test_certificate, sign_pdf, verify_pdf

__all__ = [
    "ReportPaths",
    "render_report",
    "render_run",
    "load_results",
    "draw_detections",
    "draw_classification",
    "VerifyResult",
    "sign_pdf",
    "verify_pdf",
    "make_test_certificate",
]
