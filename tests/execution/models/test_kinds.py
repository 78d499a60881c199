"""Model kinds: an open registry the spec validates against, extended in code, by plugins or by installed packages.

A kind is one module with its loader and its options schema; the spec refuses an unknown kind or
an option the kind does not take (located at the key), the JSON Schema lists what is registered,
and a distribution's ``fieldready.model_kinds`` / ``fieldready.corruptions`` entry points register
kinds and corruptions with no line in the spec.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict, Field

from fieldready import corruptions
from fieldready.cli import cli
from fieldready.errors import ModelError
from fieldready.execution.models import kinds
from fieldready.execution.models.adapter import load_model
from fieldready.spec import load_spec
from fieldready.spec.schema import spec_json_schema
from tests._project import BrightBoxDetector, make_detection_project

ROOT = Path(__file__).resolve().parents[3]


class ScaledOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = Field(default=1.0, gt=0)


def _load_scaled(model, root: Path, device) -> torch.nn.Module:  # noqa: ANN001
    return BrightBoxDetector(box=int(16 * model.options.get("scale", 1.0))).to(device).eval()


@pytest.fixture
def scaled_kind() -> Iterator[kinds.ModelKind]:
    kind = kinds.register_kind(kinds.ModelKind(
        name="scaled", description="a built-in detector at a scale (test kind)", load=_load_scaled,
        options=ScaledOptions, path="unused",
    ))
    yield kind
    kinds.unregister_kind("scaled")


def _with_model(spec: Path, entry: str) -> Path:
    text = spec.read_text().replace("  - {name: model-b, kind: torchscript, path: models/b.pt}\n", f"  - {entry}\n")
    spec.write_text(text)
    return spec


def _refused(spec: Path, *needles: str) -> str:
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output
    return result.output


def test_builtin_kinds_are_registered_without_torch_loaders_running() -> None:
    assert {"torchscript", "python"} <= set(kinds.kind_names())
    assert kinds.get_kind("torchscript").path == "required" and not kinds.get_kind("torchscript").entrypoint
    assert kinds.get_kind("python").entrypoint
    with pytest.raises(ModelError, match="unknown model kind 'onnxx'.*known: .*torchscript"):
        kinds.get_kind("onnxx")


def test_a_duplicate_kind_is_refused(scaled_kind: kinds.ModelKind) -> None:
    with pytest.raises(ModelError, match="already registered"):
        kinds.register_kind(scaled_kind)


def test_unknown_kind_is_located_with_the_known_ones(tmp_path: Path) -> None:
    spec = _with_model(make_detection_project(tmp_path, n_images=2), "{name: model-b, kind: torchscrpt, path: models/b.pt}")
    _refused(spec, "models[1].kind", "unknown model kind 'torchscrpt'", "did you mean 'torchscript'", "python")


def test_an_option_the_kind_does_not_take_is_located(tmp_path: Path) -> None:
    spec = _with_model(make_detection_project(tmp_path, n_images=2),
                       "{name: model-b, kind: torchscript, path: models/b.pt, options: {half: true}}")
    _refused(spec, "models[1].options.half", "unknown option for a torchscript model")


def test_a_missing_field_of_the_kind_is_located(tmp_path: Path) -> None:
    spec = _with_model(make_detection_project(tmp_path, n_images=2), "{name: model-b, kind: python}")
    _refused(spec, "models[1]", "a python model needs entrypoint: 'module:function'")


def test_a_registered_kind_is_validated_loaded_and_in_the_schema(tmp_path: Path, scaled_kind: kinds.ModelKind) -> None:
    spec = _with_model(make_detection_project(tmp_path, n_images=2), "{name: model-b, kind: scaled, options: {scale: 0.5}}")
    loaded = load_spec(spec)  # validates
    model = next(m for m in loaded.spec.models if m.kind == "scaled")
    adapter = load_model(model, loaded.root, torch.device("cpu"), "detection")
    out = adapter(torch.rand(1, 3, 32, 32))
    assert float(out.boxes[0, 2] - out.boxes[0, 0]) == 8.0  # the kind's loader ran with the option
    # the kind's own schema checks the options
    spec.write_text(spec.read_text().replace("scale: 0.5", "scale: -1"))
    _refused(spec, "models[1].options.scale", "greater than 0")
    schema = spec_json_schema()["$defs"]["ModelSpec"]
    assert "scaled" in schema["properties"]["kind"]["enum"]
    rule = next(r for r in schema["allOf"] if r["if"]["properties"]["kind"]["const"] == "scaled")
    assert rule["then"]["properties"]["options"]["properties"]["scale"]["exclusiveMinimum"] == 0


def test_the_committed_schema_lists_the_builtin_kinds() -> None:
    committed = json.loads((ROOT / "schema" / "fieldready-spec.schema.json").read_text())
    assert committed["$defs"]["ModelSpec"]["properties"]["kind"]["enum"] == kinds.kind_names()


# ----------------------------------------------------------------------------- entry points

KIND_MODULE = '''\
from pydantic import BaseModel, ConfigDict
from fieldready.execution.models.kinds import ModelKind


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = 0.5


def load(model, root, device):
    raise RuntimeError("not needed by the test")


KIND = ModelKind(name="fakekind", description="a kind from an installed package", load=load, options=Options,
                 path="optional")
'''
CORRUPTION_MODULE = '''\
from fieldready.corruptions import register


@register("fake_tint", family="digital", unit="tint", valid_range=(0.0, 1.0), levels=(0.1, 0.2, 0.3, 0.4, 0.5))
def fake_tint(images, severity, rng, *, spatial_scale=1.0):
    """Shift the red channel (test corruption from an installed package)."""
    out = images.clone()
    out[:, 0] = (out[:, 0] + severity).clamp(0, 1)
    return out
'''


def _fake_distribution(site: Path, *, broken: bool = False) -> Path:
    """A distribution as pip would install it: modules and a ``*.dist-info`` with entry_points.txt."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "fakekind_mod.py").write_text(KIND_MODULE if not broken else "raise ImportError('no onnxruntime here')\n")
    (site / "fakecorr_mod.py").write_text(CORRUPTION_MODULE)
    info = site / "fieldready_fake-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fieldready-fake\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[fieldready.model_kinds]\nfakekind = fakekind_mod:KIND\n\n[fieldready.corruptions]\nfake = fakecorr_mod\n"
    )
    return site


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = _fake_distribution(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    yield site
    kinds.unregister_kind("fakekind")
    if "fake_tint" in corruptions.names():
        corruptions.unregister("fake_tint")
    for name in ("fakekind_mod", "fakecorr_mod"):
        sys.modules.pop(name, None)


def test_entry_points_register_a_kind_and_a_corruption(installed: Path) -> None:
    assert kinds.load_entry_points() == ["fakekind"]
    assert kinds.get_kind("fakekind").description == "a kind from an installed package"
    assert corruptions.load_entry_points() == ["fake_tint"]
    assert corruptions.get("fake_tint").family == "digital"
    assert kinds.load_entry_points() == []  # loading again adds nothing (and refuses no duplicate)


def _cli(args: list[str], site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "fieldready.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=ROOT)


def test_an_installed_package_needs_no_plugins_line(tmp_path: Path) -> None:
    # A fresh interpreter finds the distribution on sys.path, as after `pip install fieldready-fake`.
    site = _fake_distribution(tmp_path / "site")
    spec = _with_model(make_detection_project(tmp_path / "p", n_images=2), "{name: model-b, kind: fakekind, options: {threshold: 0.7}}")
    spec.write_text(spec.read_text().replace("conditions:\n", "conditions:\n  - {corruption: fake_tint, severity: 0.3}\n"))
    result = _cli(["validate", str(spec)], site)
    assert result.returncode == 0, result.stderr
    assert f"{spec}: ok" in result.stdout
    schema = json.loads(_cli(["schema"], site).stdout)
    assert "fakekind" in schema["$defs"]["ModelSpec"]["properties"]["kind"]["enum"]


def test_a_broken_entry_point_is_one_line_naming_it(tmp_path: Path) -> None:
    site = _fake_distribution(tmp_path / "site", broken=True)
    spec = make_detection_project(tmp_path / "p", n_images=2)
    result = _cli(["validate", str(spec)], site)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "fakekind" in result.stderr and "fieldready-fake" in result.stderr and "no onnxruntime here" in result.stderr
