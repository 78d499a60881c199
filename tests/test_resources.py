"""Shipped files: top-level specs/ (presets) and templates/ are found in a checkout and in an installed wheel.

The wheel carries them as ``fieldready/_specs`` and ``fieldready/_templates`` (pyproject's
force-include, like the examples); an installed layout is built here from that mapping and the
package is asked, in a fresh interpreter, where its presets and templates are.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fieldready import resources
from fieldready.errors import FieldreadyError
from fieldready.spec.models import Condition
from fieldready.spec.presets import expand_conditions, preset_names

ROOT = Path(__file__).resolve().parents[1]


def _force_include() -> dict[str, str]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the test extra brings tomli, the same parser
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]


def test_the_checkout_layout_is_found() -> None:
    assert resources.presets_dir() == ROOT / "specs" / "presets"
    assert resources.templates_dir() == ROOT / "templates"
    assert (resources.templates_dir() / "report.html.j2").is_file()
    assert resources.example_spec("shapes") == ROOT / "examples" / "shapes" / "spec.yaml"
    assert {"imagenet-c", "coco-c", "repeatability"} <= set(preset_names())
    assert len(expand_conditions([Condition(preset="imagenet-c", frequency=0.3)])) == 15


def test_the_wheel_ships_every_shipped_folder() -> None:
    mapping = _force_include()
    for folder, inside in resources.SHIPPED.items():
        targets = {dst for src, dst in mapping.items() if src == folder or src.startswith(folder + "/")}
        assert targets, f"pyproject's force-include does not ship {folder}/"
        assert all(t.startswith(f"fieldready/{inside}") for t in targets), targets


def test_an_installed_layout_is_found(tmp_path: Path) -> None:
    # The package as a wheel installs it: the code, and each force-included folder inside it.
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "src" / "fieldready", site / "fieldready", ignore=shutil.ignore_patterns("__pycache__"))
    for src, dst in _force_include().items():
        shutil.copytree(ROOT / src, site / dst)
    probe = (
        "import json, fieldready.resources as r\n"
        "from fieldready.spec.presets import preset_names\n"
        "print(json.dumps({'presets': str(r.presets_dir()), 'templates': str(r.templates_dir()),"
        " 'example': str(r.example_spec('digits')), 'names': preset_names()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["presets"] == str(site / "fieldready" / "_specs" / "presets")
    assert found["templates"] == str(site / "fieldready" / "_templates")
    assert found["example"] == str(site / "fieldready" / "_examples" / "digits" / "spec.yaml")
    assert found["names"] == preset_names()


def test_an_unknown_shipped_folder_is_an_error() -> None:
    with pytest.raises(FieldreadyError, match="unknown shipped folder"):
        resources.shipped("models")
