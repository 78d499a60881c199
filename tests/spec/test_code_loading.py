"""User code runs only where the spec asks for it, and is loaded by explicit path.

A file beside the spec named like a standard-library or installed module is never imported;
plugins and ``python`` model entry points are loaded from their files under private module
names (so they cannot shadow anything), and every failure names the spec key and the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldready import corruptions
from fieldready.cli import cli
from fieldready.usercode import PRIVATE_PREFIX
from tests._project import make_detection_project

# Names that fieldready, its dependencies or Python itself import (often lazily) at some point.
SHADOWS = ["mimetypes", "cffi", "json", "numpy", "cv2", "PIL", "sqlite3", "csv", "uuid", "secrets", "gzip",
           "zipfile", "tempfile", "html", "jinja2", "matplotlib", "weasyprint", "pydyf", "tinycss2", "fontTools",
           "torchvision", "sitecustomize", "usercustomize", "typing_extensions", "decimal", "fractions"]
SHADOW_PACKAGES = ["scipy", "pydantic_core", "yaml"]

PLUGIN = '''\
import json  # must be the standard library's, whatever lies beside the spec

import torch
from fieldready.corruptions import register

assert hasattr(json, "JSONDecoder"), json


@register("{name}", family="field", unit="opacity", valid_range=(0.0, 1.0), levels=(0.1, 0.2, 0.3, 0.4, 0.5),
          identity=0.0)
def dirt(images, severity, rng, *, spatial_scale=1.0):
    """A uniform grey veil (deterministic)."""
    return images * (1 - severity) + 0.5 * severity
'''

MODEL_PACKAGE = {
    "__init__.py": "",
    "nets.py": "import torch\n\ndef scripted(path):\n    return torch.jit.load(path)\n",
    "models.py": (
        "import json  # the standard library's\n"
        "from .nets import scripted\n"
        "import modelhelpers  # a sibling of the package, beside the spec\n\n"
        "assert hasattr(json, 'JSONDecoder')\n\n"
        "def load(weights_path, scale=1.0):\n"
        "    assert modelhelpers.FACTOR == 1.0\n"
        "    return scripted(weights_path)\n"
    ),
}


@pytest.fixture
def registry_cleanup():
    before = set(corruptions.names())
    yield
    for name in set(corruptions.names()) - before:
        corruptions.unregister(name)


def _plant_shadows(folder: Path, markers: Path) -> None:
    """Modules named like stdlib/dependency modules that leave a marker file when imported."""
    markers.mkdir(exist_ok=True)
    for name in SHADOWS:
        (folder / f"{name}.py").write_text(f"open({str(markers / name)!r}, 'w').close()\n")
    for name in SHADOW_PACKAGES:
        (folder / name).mkdir()
        (folder / name / "__init__.py").write_text(f"open({str(markers / name)!r}, 'w').close()\n")


def _console_script() -> list[str]:
    """The installed ``fieldready`` script: like a user's shell, it puts no working directory on sys.path."""
    script = Path(sys.executable).parent / "fieldready"
    assert script.exists(), f"console script not installed next to {sys.executable}"
    return [str(script)]


def _fieldready(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    return subprocess.run([*_console_script(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _add_plugin(spec: Path, plugin: str, corruption: str = "dirt") -> None:
    text = spec.read_text().replace("baseline: model-a\n", f"baseline: model-a\nplugins: [{plugin}]\n")
    text = text.replace("conditions:\n", f"conditions:\n  - {{corruption: {corruption}, severity: {{levels: [2]}}, frequency: 0.1}}\n")
    spec.write_text(text)


def test_files_named_like_stdlib_or_dependencies_beside_a_torchscript_spec_are_never_imported(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "project", n_images=3)
    markers = tmp_path / "markers"
    _plant_shadows(spec.parent, markers)
    for args in (["validate", "spec.yaml"], ["plan", "spec.yaml"], ["run", "spec.yaml", "-o", "run", "--quiet"],
                 ["report", "run"]):
        proc = _fieldready(*args, cwd=spec.parent)
        assert proc.returncode in (0, 1), (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert sorted(p.name for p in markers.iterdir()) == [], args
    assert (spec.parent / "run" / "results.json").exists()


def test_a_declared_plugin_beside_shadow_files_gets_the_real_modules(tmp_path: Path) -> None:
    spec = make_detection_project(tmp_path / "project", n_images=3)
    markers = tmp_path / "markers"
    _plant_shadows(spec.parent, markers)
    (spec.parent / "mycorruptions.py").write_text(PLUGIN.replace("{name}", "dirt"))
    _add_plugin(spec, "mycorruptions")
    proc = _fieldready("run", "spec.yaml", "-o", "run", "--quiet", cwd=spec.parent)
    assert proc.returncode in (0, 1), proc.stderr
    assert sorted(p.name for p in markers.iterdir()) == []
    results = json.loads((spec.parent / "run" / "results.json").read_text())
    assert any(c["condition"] == "dirt" for c in results["models"][0]["conditions"])


@pytest.mark.parametrize("plugin", ["json", "plugins/json.py", "plugins/veil"], ids=["stdlib-name", "path", "package-path"])
def test_a_plugin_named_like_a_stdlib_module_is_the_users_file_and_shadows_nothing(
    tmp_path: Path, plugin: str, registry_cleanup: None
) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    if plugin == "json":
        (tmp_path / "json.py").write_text(PLUGIN.replace("{name}", "veil_a"))
    elif plugin.endswith(".py"):
        (tmp_path / "plugins").mkdir()
        (tmp_path / "plugins" / "json.py").write_text(PLUGIN.replace("{name}", "veil_a"))
    else:
        (tmp_path / "plugins" / "veil").mkdir(parents=True)
        (tmp_path / "plugins" / "veil" / "__init__.py").write_text("from .impl import dirt\n")
        (tmp_path / "plugins" / "veil" / "impl.py").write_text(PLUGIN.replace("{name}", "veil_a"))
    _add_plugin(spec, plugin, "veil_a")
    import json as real_json

    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    assert sys.modules["json"] is real_json and "veil_a" in corruptions.names()
    module = sys.modules[corruptions.get("veil_a").fn.__module__]
    assert module.__name__.startswith(PRIVATE_PREFIX), module.__name__
    assert Path(module.__file__).resolve().is_relative_to(tmp_path.resolve())
    # Validating again in the same process reuses the loaded module (no duplicate registration).
    assert CliRunner().invoke(cli, ["plan", str(spec)]).exit_code == 0


def test_a_plugin_may_import_its_sibling_modules(tmp_path: Path, registry_cleanup: None) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    (tmp_path / "veilhelpers.py").write_text("GREY = 0.5\n")
    (tmp_path / "veils.py").write_text(PLUGIN.replace("{name}", "veil_b") + "import veilhelpers\nassert veilhelpers.GREY == 0.5\n")
    _add_plugin(spec, "veils", "veil_b")
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    assert str(tmp_path) not in sys.path and str(tmp_path.resolve()) not in sys.path


@pytest.mark.parametrize(
    ("files", "plugin", "message"),
    [
        ({}, "nothere", "no module 'nothere' in"),
        ({}, "plugins/nothere.py", "nothere.py does not exist"),
        ({"pkg/__init__.py": ""}, "pkg.missing", "missing.py"),
        ({"broken.py": "raise RuntimeError('needs a GPU')\n"}, "broken", "RuntimeError: needs a GPU"),
        ({"quits.py": "import sys\nsys.exit(3)\n"}, "quits", "SystemExit"),
        ({"syntax.py": "def (:\n"}, "syntax", "SyntaxError"),
        ({}, "'foo-bar'", "is neither a module name"),
        ({}, "'../../etc'", "does not exist"),
    ],
    ids=["missing-module", "missing-path", "missing-submodule", "raises", "sys-exit", "syntax", "bad-name", "dir"],
)
def test_plugin_failures_name_the_key_and_the_file(tmp_path: Path, files: dict[str, str], plugin: str, message: str) -> None:
    spec = make_detection_project(tmp_path, n_images=2)
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    spec.write_text(spec.read_text().replace("baseline: model-a\n", f"baseline: model-a\nplugins: [{plugin}]\n"))
    result = CliRunner().invoke(cli, ["validate", str(spec)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"{spec}:9:" in result.output and "plugins[0]" in result.output and message in result.output, result.output
    if files:
        assert str(tmp_path / next(iter(files)).split("/")[0]) in result.output


def _python_model(tmp_path: Path, entrypoint: str, files: dict[str, str]) -> Path:
    spec = make_detection_project(tmp_path, n_images=2)
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    spec.write_text(spec.read_text().replace(
        "  - {name: model-b, kind: torchscript, path: models/b.pt}",
        f"  - {{name: model-b, kind: python, entrypoint: '{entrypoint}', options: {{weights_path: models/b.pt}}}}",
    ))
    return spec


def test_a_python_model_package_loads_by_path_beside_shadow_files(tmp_path: Path) -> None:
    files = {f"mypkg/{k}": v for k, v in MODEL_PACKAGE.items()} | {"modelhelpers.py": "FACTOR = 1.0\n"}
    spec = _python_model(tmp_path / "project", "mypkg.models:load", files)
    markers = tmp_path / "markers"
    _plant_shadows(spec.parent, markers)
    proc = _fieldready("run", "spec.yaml", "-o", "run", "--quiet", cwd=spec.parent)
    assert proc.returncode in (0, 1), proc.stderr
    assert sorted(p.name for p in markers.iterdir()) == []
    results = json.loads((spec.parent / "run" / "results.json").read_text())
    assert sorted(m["name"] for m in results["models"]) == ["model-a", "model-b"]


@pytest.mark.parametrize(
    ("entrypoint", "files", "message"),
    [
        ("nomodule:load", {}, "no module 'nomodule' in"),
        ("mypkg.nothere:load", {"mypkg/__init__.py": ""}, "nothere.py"),
        ("m:absent", {"m.py": "def load(**kw):\n    return None\n"}, "has no function 'absent'"),
        ("m:load", {"m.py": "raise ImportError('needs onnx')\n"}, "ImportError: needs onnx"),
        ("m:load", {"m.py": "import sys\nsys.exit(0)\n"}, "SystemExit"),
        ("m:load", {"m.py": "def load(**kw):\n    raise ValueError('bad weights')\n"}, "ValueError: bad weights"),
        ("m:CONST", {"m.py": "CONST = 3\n"}, "is not callable"),
    ],
    ids=["missing-module", "missing-submodule", "missing-function", "import-raises", "sys-exit", "factory-raises",
         "not-callable"],
)
def test_python_model_failures_name_the_model_the_entrypoint_and_the_file(
    tmp_path: Path, entrypoint: str, files: dict[str, str], message: str
) -> None:
    spec = _python_model(tmp_path, entrypoint, files)
    result = CliRunner().invoke(cli, ["run", str(spec), "-o", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "model-b" in result.output and entrypoint.split(":")[0] in result.output and message in result.output, result.output
    assert str(tmp_path) in result.output
    assert str(tmp_path) not in sys.path and str(tmp_path.resolve()) not in sys.path


def test_namespace_packages_and_python_precedence(tmp_path: Path) -> None:
    """``a.b`` resolves as Python would: a package's __init__, else a module file, else a folder (namespace)."""
    from fieldready.usercode import load_module, module_file

    (tmp_path / "ns" / "deep").mkdir(parents=True)
    (tmp_path / "ns" / "deep" / "mod.py").write_text("from . import sib\nVALUE = sib.X + 1\n")
    (tmp_path / "ns" / "deep" / "sib.py").write_text("X = 41\n")
    module = load_module(tmp_path, "ns.deep.mod")
    assert module.VALUE == 42 and module.__name__.startswith(PRIVATE_PREFIX) and "ns" not in sys.modules
    (tmp_path / "both").mkdir()
    (tmp_path / "both" / "__init__.py").write_text("WHICH = 'package'\n")
    (tmp_path / "both.py").write_text("WHICH = 'module'\n")
    assert module_file(tmp_path, "both") == (tmp_path / "both" / "__init__.py").resolve()
    assert load_module(tmp_path, "both").WHICH == "package"
    assert module_file(tmp_path, "json") is None  # nothing beside the spec: the installed module
    assert load_module(tmp_path, "json") is json


def test_plugin_given_as_a_path_is_hashed_with_its_package(tmp_path: Path, registry_cleanup: None) -> None:
    """The plan's plugin hash covers the files a path plugin loads (a resume after an edit is refused)."""
    from fieldready.plan import compile_plan
    from fieldready.spec import load_spec

    spec = make_detection_project(tmp_path, n_images=2)
    (tmp_path / "plugins" / "veil").mkdir(parents=True)
    (tmp_path / "plugins" / "veil" / "__init__.py").write_text("from .impl import dirt\n")
    (tmp_path / "plugins" / "veil" / "impl.py").write_text(PLUGIN.replace("{name}", "veil_c"))
    _add_plugin(spec, "plugins/veil", "veil_c")
    plan = compile_plan(load_spec(spec))
    parts = plan.plugins[0].parts
    assert sorted(parts) == ["plugins/veil/__init__.py (plugin source)", "plugins/veil/impl.py (plugin source)"]
    (tmp_path / "plugins" / "veil" / "impl.py").write_text(PLUGIN.replace("{name}", "veil_c") + "# edited\n")
    assert compile_plan(load_spec(spec)).plugins[0].hash != plan.plugins[0].hash
