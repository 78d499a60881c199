"""Condition presets shipped with fieldready (``preset: imagenet-c``), expanded into plain conditions."""

from __future__ import annotations

from ruamel.yaml import YAML

from fieldready.errors import CorruptionError
from fieldready.resources import presets_dir
from fieldready.spec.models import Condition

__all__ = ["preset_names", "expand_conditions"]


def preset_names() -> list[str]:
    """Names of the shipped presets (files in ``specs/presets``)."""
    return sorted(p.name.removesuffix(".yaml") for p in presets_dir().iterdir() if p.name.endswith(".yaml"))


def _load_preset(name: str) -> list[Condition]:
    if name not in preset_names():
        raise CorruptionError(f"unknown preset {name!r}; known: {', '.join(preset_names())}")
    text = (presets_dir() / f"{name}.yaml").read_text(encoding="utf-8")
    data = YAML(typ="safe").load(text)
    return [Condition.model_validate(c) for c in data["conditions"]]


def expand_conditions(conditions: list[Condition]) -> list[Condition]:
    """Replace each preset by its conditions, sharing the preset's frequency equally among them."""
    out: list[Condition] = []
    for condition in conditions:
        if condition.preset is None:
            out.append(condition)
            continue
        members = _load_preset(condition.preset)
        share = condition.frequency / len(members)
        for member in members:
            update = {"frequency": share}
            if condition.relative_to is not None:
                update["relative_to"] = condition.relative_to
            out.append(member.model_copy(update=update))
    return out
