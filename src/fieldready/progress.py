"""The run's progress display after execution: evaluation per unit, then judging and the report's steps.

Execution has its own images bar (``execution.runner``); this module shows what follows it, so a
run never sits silent for tens of seconds: one bar per stage on stderr (tqdm, as the runner's),
counting evaluation units (model × point) one by one and the report's steps (charts, HTML, PDF,
signing) by name. ``enabled`` False (``--quiet``) prints nothing.
"""

from __future__ import annotations

from tqdm import tqdm

__all__ = ["Stages"]


class Stages:
    """A named bar per stage: ``start(name, total)``, ``advance()`` per item, ``step(label)`` for a named step."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: tqdm | None = None
        self._stepping = False  # a named step is under way (the next one completes it)

    def start(self, name: str, total: int, *, unit: str = "step") -> None:
        """Close the previous stage's bar and open one of ``total`` items for ``name``."""
        self.close()
        self._stepping = False
        self._bar = tqdm(total=max(total, 1), desc=name, unit=unit, disable=None if self.enabled else True,
                         leave=True, mininterval=0.2, bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} {unit} "
                         "[{elapsed}]{postfix}")

    def advance(self, n: int = 1) -> None:
        """One more item of the current stage done."""
        if self._bar is not None:
            self._bar.update(n)

    def step(self, label: str) -> None:
        """A named step of the current stage begins: the previous one is done (the report's callback)."""
        if self._bar is None:
            return
        if self._stepping:
            self._bar.update(1)
        self._stepping = True
        self._bar.set_postfix_str(label, refresh=True)

    def close(self) -> None:
        """Finish the current bar (filling it: a stage that ended is complete)."""
        if self._bar is not None:
            self._bar.update(self._bar.total - self._bar.n)
            self._bar.set_postfix_str("done", refresh=False)
            self._bar.close()
            self._bar = None
