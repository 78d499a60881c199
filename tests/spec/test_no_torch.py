"""`fieldready validate` and `plan` check a spec without importing torch (it costs seconds and hundreds of MB).

Each case runs the real CLI in a fresh interpreter, then reports which heavy modules that process
imported; the wall time is printed for the curious (``-s``), not asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs the console-script entry point in-process, so sys.modules afterwards is exactly what the command imported.
PROBE = """
import sys, time
start = time.perf_counter()
from fieldready.cli import main
sys.argv = ["fieldready", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
heavy = [m for m in ("torch", "torchvision", "matplotlib", "weasyprint", "scipy") if m in sys.modules]
print(f"PROBE exit={code} heavy={','.join(heavy) or '-'} seconds={time.perf_counter() - start:.2f}", file=sys.stderr)
"""


def _probe(*args: str) -> tuple[str, str, dict[str, str]]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    line = next((ln for ln in proc.stderr.splitlines() if ln.startswith("PROBE ")), None)
    assert line is not None, f"the probe did not finish:\n{proc.stderr}"
    return proc.stdout, proc.stderr, dict(kv.split("=", 1) for kv in line.split()[1:])


@pytest.mark.parametrize("example", ["shapes", "digits"])
@pytest.mark.parametrize("command", ["validate", "plan"])
def test_spec_commands_do_not_import_torch(command: str, example: str) -> None:
    spec = ROOT / "examples" / example / "spec.yaml"
    stdout, stderr, probe = _probe(command, str(spec))
    assert probe["exit"] in ("0", "None"), stderr
    assert "torch" not in probe["heavy"].split(","), f"{command} imported torch: {probe}"
    assert probe["heavy"] == "-", f"{command} imported {probe['heavy']}"
    # The commands did their work from the corruption metadata alone.
    if command == "validate":
        assert f"{spec}: ok" in stdout
    else:
        assert "plan " in stdout and "forward passes" in stdout
    print(f"{command} {example}: {probe['seconds']} s without torch")


def test_plan_json_matches_the_catalogue_without_torch() -> None:
    # The plan's families and levels come from the declared metadata: the same values the torch side binds.
    import json

    import fieldready.corruptions as C

    stdout, stderr, probe = _probe("plan", "--json", str(ROOT / "examples" / "shapes" / "spec.yaml"))
    assert probe["heavy"] == "-", stderr
    plan = json.loads(stdout)
    for condition in plan["conditions"]:
        for point in condition["points"]:
            for step in point["steps"]:
                c = C.get(step["corruption"])
                assert condition["family"] in (c.family, "composite")
                if step["level"] is not None:
                    assert step["severity"] == c.level(step["level"])
