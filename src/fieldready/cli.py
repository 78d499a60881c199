"""The ``fieldready`` command line: thin click commands over the Python API.

Every user-caused problem is a FieldreadyError: the CLI prints its message (one line per problem,
no traceback) and exits 2. Exit 1 is reserved for a failed release gate and an invalid signature.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from fieldready.errors import FieldreadyError, SpecError

__all__ = ["main", "cli"]

EXIT_BAD_INPUT = 2


class _Group(click.Group):
    """Turns FieldreadyError (and Ctrl-C) into one message and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except FieldreadyError as exc:
            click.echo(str(exc) if isinstance(exc, SpecError) else f"error: {exc}", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except OSError as exc:  # an I/O failure outside the checked paths: still one line, not a traceback
            where = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {where}{exc.strerror or exc}; check the path, permissions and free disk space", err=True)
            ctx.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("interrupted: finished batches are saved; run the same command again to resume", err=True)
            ctx.exit(130)


@click.group(cls=_Group)
@click.version_option(package_name="fieldready")
def cli() -> None:
    """Decide whether a computer-vision model is ready to ship."""


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
def validate(spec: Path) -> None:
    """Check a spec; errors read SPEC:LINE:COL: key.path: message."""
    from fieldready.plan import spec_dataset
    from fieldready.plan.samplesize import sample_size_warnings
    from fieldready.spec import load_spec

    loaded = load_spec(spec)
    for warning in loaded.warnings + sample_size_warnings(loaded.spec, spec_dataset(loaded)):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{spec}: ok ({loaded.spec.task}, {len(loaded.spec.models)} models, {len(loaded.spec.conditions)} conditions, {len(loaded.spec.criteria)} criteria)")


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--estimate", is_flag=True,
              help="Time the models and corruptions on a few images (loads torch and the models) and print the run's estimated time.")
def plan(spec: Path, as_json: bool, estimate: bool) -> None:
    """Print the compiled test plan: units, images, physical severities, cost, plan hash (--estimate: time)."""
    from fieldready.plan import compile_plan
    from fieldready.plan.physical import describe_step, physical_steps
    from fieldready.spec import load_spec

    compiled = compile_plan(load_spec(spec))
    if as_json:
        click.echo(json.dumps(compiled.summary(), indent=2))
        return
    summary = compiled.describe()
    click.echo(f"plan {summary.name} ({summary.task})  hash {summary.plan_hash}")
    click.echo(f"images {summary.images}  models {len(summary.models)}  units {summary.unit_count}  batch size {summary.batch_size}")
    sizes = [(r.width, r.height) for r in compiled.dataset.records]
    for c in compiled.conditions:
        rel = c.points[0].relative_to if c.points else None
        click.echo(f"  {c.name:<24} {c.family:<10} freq {c.frequency:<5g} "
                   f"{c.unit or 'composed'}{f' (relative_to {rel} px)' if rel else ''}")
        points = [physical_steps(p.steps, p.relative_to, sizes) for p in c.points]
        click.echo("      " + "; ".join(" + ".join(describe_step(s, with_name=len(steps) > 1) for s in steps)
                                        for steps in points))
    cost = summary.cost
    click.echo(
        f"cost: {cost.forward_passes} forward passes, {cost.corrupted_images} corrupted images "
        f"({cost.megapixels_corrupted} MP), {cost.decoded_images} images decoded once"
    )
    if estimate:
        from fieldready.execution.estimate import estimate_run

        e = estimate_run(compiled)
        click.echo(f"estimated time: {_minutes(e.seconds)} on {e.device} for {e.images} images in batches of "
                   f"{summary.batch_size} (timed on 1 and {e.sampled} images, every point and model: "
                   f"{e.per_batch:.2f} s per batch + {e.per_image:.2f} s per image; model loading {e.load_seconds:.1f} s; "
                   "evaluation and report not included)")
    else:
        click.echo("estimated time: run `fieldready plan SPEC --estimate` to time the models on a few images")
    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)


def _minutes(seconds: float) -> str:
    """'about 4 min', 'about 1 h 20 min', 'about 40 s'."""
    if seconds < 90:
        return f"about {seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"about {minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"about {minutes} min"


@cli.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True, help="Run directory.")
@click.option("--fail-on", type=click.Choice(["never", "no-go", "any-no-go"]), default="never", show_default=True,
              help="Exit 1 when no candidate is GO (no-go) or when any candidate is NO-GO (any-no-go).")
@click.option("--sign-key", type=click.Path(path_type=Path), help="PEM private key to sign the PDF with.")
@click.option("--sign-cert", type=click.Path(path_type=Path), help="PEM certificate of the signing key.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default=None, help="Where batches run (default: the spec's run.executor, local).")
@click.option("--address", default=None, help="Ray cluster address (default: run.address, else RAY_ADDRESS, else a local cluster).")
@click.option("--threads", type=click.IntRange(1, 1024), default=None, help="Torch CPU threads (default: run.threads, else the free cores less one).")
def run(spec: Path, out: Path, fail_on: str, sign_key: Path | None, sign_cert: Path | None, quiet: bool,
        executor: str | None, address: str | None, threads: int | None) -> None:
    """Execute a spec (resuming a partial run in OUT) and write the report."""
    from fieldready.pipeline import run as run_pipeline

    outcome = run_pipeline(spec, out, sign_key=sign_key, sign_cert=sign_cert, progress=not quiet,
                           executor=executor, address=address, threads=threads)
    _print_outcome(outcome)
    failed = gate_failures(outcome.results, fail_on)
    if failed:
        for line in failed:
            click.echo(line, err=True)
        sys.exit(1)


def gate_failures(results, fail_on: str) -> list[str]:  # noqa: ANN001 - judge.results.Results
    """Why ``--fail-on`` fails the run: one line per model that caused it, naming its deciding criteria.

    Empty when the gate passes. ``no-go`` fails when no candidate is GO (every non-GO model is named),
    ``any-no-go`` when some candidate is NO-GO (those are named).
    """
    from fieldready.judge.readings import threshold_text

    models = results.models
    if fail_on == "no-go" and not any(m.verdict == "GO" for m in models):
        culprits, head = list(models), "--fail-on no-go: exit 1 because no model is GO"
    elif fail_on == "any-no-go" and any(m.verdict == "NO-GO" for m in models):
        culprits, head = [m for m in models if m.verdict == "NO-GO"], "--fail-on any-no-go: exit 1 because a model is NO-GO"
    else:
        return []
    lines = [head]
    for m in sorted(culprits, key=lambda m: (m.rank is None, m.rank or 0)):
        blocking = [c for c in m.criteria if c.blocking and c.applies and c.passed is not True]
        why = "; ".join(
            f"{c.id} {'FAILED' if c.passed is False else 'undecided'} ({c.metric} on {c.scope}: "
            f"{'—' if c.value is None else f'{c.value:.3g}'}, needs {threshold_text(c)})" for c in blocking
        )
        if m.error:
            why = f"error: {m.error}" + (f"; {why}" if why else "")
        lines.append(f"  {m.name}: {m.verdict} — {why or 'no blocking criterion failed'}")
    return lines


def _print_outcome(outcome) -> None:  # noqa: ANN001
    """The run's verdict lines (in rank order), the recommendation and where the report went."""
    r = outcome.results
    if outcome.stats.resumed:
        click.echo(f"resumed: {outcome.stats.resumed} batches were already done")
    for note in outcome.notes:
        click.echo(note)
    for m in sorted(r.models, key=lambda m: m.rank or 0):
        ps = f"{m.production_score:.3f}" if m.production_score is not None else "n/a"
        clean = m.clean.get(r.primary_metric)
        click.echo(f"  {m.verdict:<13} {m.name:<20} clean {r.primary_metric} {clean if clean is None else f'{clean:.3f}'}  production score {ps}")
    click.echo(f"recommendation: {r.recommendation.reason}")
    click.echo(f"report: {outcome.html}  {outcome.pdf}  {outcome.run_dir / 'results.json'}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--page-size", type=click.Choice(["A4", "Letter"]), default=None, help="PDF page size.")
@click.option("--template-dir", type=click.Path(path_type=Path), default=None, help="Your own templates.")
@click.option("--sign-key", type=click.Path(path_type=Path), help="PEM private key to sign the new PDF with.")
@click.option("--sign-cert", type=click.Path(path_type=Path), help="PEM certificate of the signing key.")
@click.option("--quiet", is_flag=True, help="No progress display.")
def report(run_dir: Path, page_size: str | None, template_dir: Path | None, sign_key: Path | None,
           sign_cert: Path | None, quiet: bool) -> None:
    """Re-render report.html and report.pdf of a run directory from its results.json.

    A signed report.pdf is re-signed when --sign-key/--sign-cert are given; otherwise it is kept
    and the new PDF is written as report-unsigned.pdf.
    """
    from fieldready.progress import Stages
    from fieldready.report import render_run
    from fieldready.report.render import Signing
    from fieldready.report.sign import check_signer, env_passphrase

    if (sign_key is None) != (sign_cert is None):
        raise click.UsageError("signing needs both --sign-key and --sign-cert")
    signing = Signing(sign_key, sign_cert, env_passphrase()) if sign_key is not None and sign_cert is not None else None
    if signing is not None:
        check_signer(signing.key, signing.cert, signing.passphrase)
    stages = Stages(enabled=not quiet)
    stages.start("report", 4 if signing is not None else 3)
    try:
        paths = render_run(run_dir, page_size=page_size, template_dir=template_dir, signing=signing, progress=stages.step)
    finally:
        stages.close()
    if paths.note:
        click.echo(paths.note)
    click.echo(f"report: {paths.html}  {paths.pdf}")


@cli.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option("-c", "--corruption", "name", required=True, help="Corruption name (see `fieldready corruptions`).")
@click.option("-s", "--severity", type=float, default=None, help="Severity in the corruption's unit.")
@click.option("--level", type=click.IntRange(1, 5), default=None, help="ImageNet-C level 1..5.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True)
def corrupt(image: Path, name: str, severity: float | None, level: int | None, seed: int, out: Path) -> None:
    """Apply one corruption to one image file."""
    from fieldready.corruptions.catalogue import corrupt_file

    if (severity is None) == (level is None):
        raise click.UsageError("give exactly one of -s/--severity or --level")
    corrupt_file(image, out, name, severity=severity, level=level, seed=seed)
    click.echo(f"wrote {out}")


@cli.command()
@click.option("--preview", type=click.Path(path_type=Path), default=None, help="Image to render a severity grid of.")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None, help="Grid PNG (with --preview).")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def corruptions(preview: Path | None, out: Path | None, as_json: bool) -> None:
    """List the corruption catalogue; with --preview IMAGE -o GRID.png render a severity grid."""
    from fieldready.corruptions import catalogue

    if preview is not None:
        if out is None:
            raise click.UsageError("--preview needs -o GRID.png")
        catalogue.preview_grid(preview, out)
        click.echo(f"wrote {out}")
        return
    click.echo(json.dumps(catalogue.catalogue_rows(), indent=2) if as_json else catalogue.format_catalogue())


@cli.command()
def schema() -> None:
    """Print the spec's JSON Schema."""
    from fieldready.spec.schema import spec_json_schema_text

    click.echo(spec_json_schema_text(), nl=False)


@cli.command()
@click.argument("pdf", type=click.Path(path_type=Path))
@click.option("--trust", type=click.Path(path_type=Path), default=None, help="Certificate to trust (e.g. a self-signed one).")
def verify(pdf: Path, trust: Path | None) -> None:
    """Check a signed report: signer, time, intact. Exit 0 valid, 1 invalid."""
    from fieldready.report.sign import verify_pdf

    result = verify_pdf(pdf, trust=trust)
    click.echo(result.message)
    sys.exit(0 if result.ok else 1)


@cli.command()
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=Path("signing"), show_default=True)
@click.option("--name", default="fieldready test signer", show_default=True, help="Common name of the certificate.")
@click.option("--force", is_flag=True, help="Replace an existing key pair in OUT.")
def keygen(out: Path, name: str, force: bool) -> None:
    """Create a self-signed test key and certificate for trying out report signing."""
    from fieldready.report.sign import make_test_certificate

    key, cert = make_test_certificate(out, common_name=name, force=force)
    click.echo(f"key: {key}\ncertificate: {cert}\nsign with: fieldready run SPEC -o DIR --sign-key {key} --sign-cert {cert}")


@cli.command()
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=Path("fieldready-demo"), show_default=True)
@click.option("--example", type=click.Choice(["shapes", "digits"]), default="shapes", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def demo(out: Path, example: str, quiet: bool) -> None:
    """Run a bundled example end to end, offline, and write its report to OUT."""
    from fieldready.resources import example_spec
    from fieldready.pipeline import run as run_pipeline

    spec = example_spec(example)
    outcome = run_pipeline(spec, out, progress=not quiet)
    _print_outcome(outcome)


@cli.command()
@click.argument("frames", type=click.Path(path_type=Path))
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="Reference set: a folder of images/videos or a spec (its dataset). Default: --spec's dataset.")
@click.option("--spec", type=click.Path(path_type=Path), default=None, help="Spec whose declared conditions to compare with.")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--sample-fps", type=float, default=1.0, show_default=True, help="Frames per second sampled from video files.")
def profile(frames: Path, reference: Path | None, spec: Path | None, out: Path, sample_fps: float) -> None:
    """Measure the conditions of production FRAMES and suggest a spec's conditions and frequencies."""
    from fieldready.profile import run_profile

    if reference is None and spec is None:
        raise click.UsageError("give --reference FOLDER_OR_SPEC or --spec SPEC (its dataset is the reference)")
    result = run_profile(frames, out, reference=reference, spec=spec, sample_fps=sample_fps)
    r = result.report
    click.echo(f"profiled {len(r.production)} frames against {r.reference_source}")
    for c in result.suggestion.comparisons:
        click.echo(f"  {c.sentence}")
    if not result.suggestion.comparisons:
        for cond, comment in zip(result.suggestion.conditions, result.suggestion.comments):
            name = cond.get("name") or cond.get("corruption")
            click.echo(f"  {name:<17} frequency {cond.get('frequency', 0):<5g} {comment}")
    for note in result.suggestion.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {result.paths['yaml']}  {result.paths['html']}  {result.paths['json']}")


@cli.command()
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--model", "models", type=click.Path(path_type=Path), multiple=True,
              help="A model file (.onnx, .pt2, TorchScript .pt/.ts); repeat for several candidates.")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True, help="The spec file to write.")
@click.option("--task", type=click.Choice(["detection", "classification"]), default=None,
              help="For a plain folder of images (default: from the labels).")
@click.option("--force", is_flag=True, help="Replace an existing OUT.")
def init(data: Path, models: tuple[Path, ...], out: Path, task: str | None, force: bool) -> None:
    """Look at DATA and the model files and write a commented starter spec that validates and runs."""
    from fieldready.starter import write_starter

    text = write_starter(data, list(models), out, force=force, task=task)
    warnings = [line.removeprefix("# sample size: ") for line in text.splitlines() if line.startswith("# sample size: ")]
    for warning in warnings:
        click.echo(f"warning: {warning}")
    click.echo(f"wrote {out}; next: fieldready plan {out}  then  fieldready run {out} -o RUN_DIR")


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="fieldready")



if __name__ == "__main__":
    main()
