"""The whole run in one call: spec → plan → execute (resumable) → evaluate → judge → report.

Each stage is its own module; this one only sequences them, records provenance and writes the run
directory: ``results.sqlite`` (predictions), ``results.json`` (every number), ``report.html``,
``report.pdf`` and ``gallery/`` (failure examples). The directory is locked for the whole run, so a
second ``fieldready run`` on it stops at once instead of mixing its work into this one.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from fieldready import __version__
from fieldready.errors import FieldreadyError, StoreError
from fieldready.evaluation.evaluate import evaluate
from fieldready.evaluation.stream import StreamingEvaluator
from fieldready.execution.device import choose_threads, select_device
from fieldready.execution.ray_executor import driver_device, execute_ray, require_ray
from fieldready.execution.repeat import execute_repeatability
from fieldready.execution.runner import RunStats, execute
from fieldready.execution.store import ResultStore, RunLock, write_atomic
from fieldready.judge.build import build_results
from fieldready.judge.failures import failure_gallery
from fieldready.judge.results import Provenance, Results, results_json
from fieldready.plan import TestPlan, compile_plan
from fieldready.progress import Stages
from fieldready.report import render_report
from fieldready.report.gallery import write_gallery
from fieldready.report.repeat_gallery import write_repeat_gallery
from fieldready.report.render import Signing
from fieldready.report.sign import check_signer, env_passphrase
from fieldready.spec.loader import load_spec

__all__ = ["RunOutcome", "run", "write_results", "package_versions"]

RESULTS_JSON = "results.json"
_PACKAGES = ("torch", "numpy", "opencv-python-headless", "faster-coco-eval", "pycocotools", "pydantic", "weasyprint", "matplotlib", "pyhanko")


@dataclass(frozen=True)
class RunOutcome:
    """What a run produced."""

    results: Results
    run_dir: Path
    html: Path
    pdf: Path
    stats: RunStats
    notes: tuple[str, ...] = ()


def package_versions() -> dict[str, str]:
    """Versions of fieldready, Python and the libraries whose behaviour the numbers depend on."""
    out = {"fieldready": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def write_results(results: Results, run_dir: Path) -> Path:
    """Write ``results.json`` atomically (temp file + rename), so a crash never leaves half a file."""
    path = Path(run_dir) / RESULTS_JSON
    try:
        write_atomic(path, results_json(results))  # strict JSON: non-finite numbers as null
    except OSError as exc:
        raise StoreError(f"{path}: cannot write results ({exc}); free disk space and run `fieldready report` again") from None
    return path


def run(
    spec_path: str | Path,
    run_dir: str | Path,
    *,
    sign_key: Path | None = None,
    sign_cert: Path | None = None,
    progress: bool = True,
    executor: str | None = None,
    address: str | None = None,
    threads: int | None = None,
) -> RunOutcome:
    """Execute a spec into ``run_dir`` (resuming a partial run of the same plan) and write the report.

    Signing inputs are checked before any compute; a signed ``report.pdf`` already in ``run_dir``
    is re-signed with the given key, or kept with the new rendering beside it. A model changed since
    ``run_dir`` was started is computed again. ``RunOutcome.notes`` says what happened.
    ``executor`` (local or ray), ``address`` (a Ray cluster) and ``threads`` override the spec's ``run:``.
    """
    run_dir = Path(run_dir)
    loaded = load_spec(spec_path)
    spec = loaded.spec
    key = sign_key or (loaded.resolve(spec.report.sign.key) if spec.report.sign else None)
    cert = sign_cert or (loaded.resolve(spec.report.sign.cert) if spec.report.sign else None)
    if (key is None) != (cert is None):
        raise FieldreadyError("signing needs both a key and a certificate (--sign-key KEY --sign-cert CERT)")
    signing = Signing(Path(key), Path(cert), env_passphrase()) if key is not None and cert is not None else None
    if signing is not None:
        check_signer(signing.key, signing.cert, signing.passphrase)
    with RunLock(run_dir):  # before the plan: a second run stops at once, not after hashing the data
        plan = compile_plan(loaded)
        executor = executor or plan.spec.run.executor
        # Under Ray each actor takes its own device (GPUs may be on the workers only): the driver needs no CUDA.
        device = driver_device(plan.spec.run.device) if executor == "ray" else select_device(plan.spec.run.device)
        if executor == "ray":
            require_ray()  # before the store: without Ray installed, one line naming the extra
        with ResultStore(run_dir) as store:
            notes = store.claim(plan.plan_hash, plan.identity())
            if store.get_meta("started") is None:
                store.set_meta({"started": _now()})
            chosen = choose_threads(threads or plan.spec.run.threads)
            with StreamingEvaluator(plan).attach(store) as stream:  # evaluates each batch as it is committed
                if executor == "ray":
                    stats = execute_ray(plan, store, device=device, address=address or plan.spec.run.address,
                                        threads=threads or plan.spec.run.threads, progress=progress)
                else:
                    stats = execute(plan, store, device=device, progress=progress, threads=chosen)
                execute_repeatability(plan, store, device=device, progress=progress)  # the repeated captures, if any
                t0 = time.perf_counter()
                streamed = stream.finish()
            stages = Stages(enabled=progress)
            stages.start("evaluating", len(plan.models) * len(plan.points), unit="units")
            evaluation = evaluate(plan, store, on_unit=stages.advance, streamed=streamed)
            stages.start("judging", 2)
            stages.step("intervals and verdicts")
            provenance = _provenance(plan, store, str(device), evaluate_seconds=time.perf_counter() - t0)
            results = build_results(plan, evaluation, provenance)
            stages.step("failure gallery")
            results, panels = failure_gallery(plan, store, results, device=device)
            write_gallery(panels, run_dir)
            write_repeat_gallery(results, plan.captures, run_dir)
        write_results(results, run_dir)
        template_dir = loaded.resolve(spec.report.template_dir) if spec.report.template_dir else None
        stages.start("report", 4 if signing is not None else 3)
        paths = render_report(results, run_dir, template_dir=template_dir, page_size=results.page_size, run_dir=run_dir,
                              signing=signing, progress=stages.step)
        stages.close()
    return RunOutcome(results, run_dir, paths.html, paths.pdf, stats, tuple(notes + ([paths.note] if paths.note else [])))


def _provenance(plan: TestPlan, store: ResultStore, device: str, *, evaluate_seconds: float) -> Provenance:
    return Provenance(
        spec_path=plan.loaded.path.name,
        spec_text=plan.loaded.text,
        spec_hash=plan.loaded.spec_hash,
        plan_hash=plan.plan_hash,
        data_hash=plan.data_hash,
        model_hashes={m.name: m.file_hash for m in plan.models},
        plugin_hashes={p.module: p.hash for p in plan.plugins},
        versions=package_versions(),
        device=device,
        seed=plan.seed,
        started=store.get_meta("started") or _now(),
        finished=_now(),
        duration_s=round(store.seconds() + evaluate_seconds, 3),
        images=len(plan.dataset.records),
        units=len(plan.units),
    )
