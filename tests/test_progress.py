"""Progress: the execution bar moves point by point (not 0 → 100 % in one batch), stages step by name."""

from __future__ import annotations

from fieldready.execution.runner import _ticking
from fieldready.progress import Stages


class _Bar:
    def __init__(self) -> None:
        self.updates: list[int] = []

    def update(self, n: int) -> None:
        self.updates.append(n)


def test_one_batch_advances_once_per_point() -> None:
    bar = _Bar()
    points = ["clean", "noise 1", "noise 3", "blur 1"]
    seen = []
    for point in _ticking(iter(points), bar, 7):  # type: ignore[arg-type]
        seen.append((point, sum(bar.updates)))
    assert seen == [("clean", 0), ("noise 1", 7), ("noise 3", 14), ("blur 1", 21)]  # each after the previous point's models
    assert bar.updates == [7, 7, 7, 7]


def test_stages_run_quietly_and_close() -> None:
    """Disabled (``--quiet``) or not a terminal, the stages print nothing and never fail the run."""
    for enabled in (True, False):
        stages = Stages(enabled=enabled)
        stages.start("report", 3)
        for step in ("charts", "html", "pdf"):
            stages.step(step)
        stages.start("evaluating", 5, unit="units")
        stages.advance()
        stages.close()
        assert stages._bar is None
