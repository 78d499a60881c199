"""Load a spec file: YAML with positions → pydantic ``Spec`` → cross-reference checks.

Every problem becomes a SpecError at ``file:line:col`` with the key path; all problems of a file are
reported together so a user fixes them in one pass.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from fieldready.errors import SpecError, SpecErrors
from fieldready.spec.checks import check_spec
from fieldready.spec.loaded import LoadedSpec
from fieldready.spec.models import Spec
from fieldready.yaml_positions import KeyPath, Located, load_located

__all__ = ["LoadedSpec", "load_spec", "parse_spec"]

_UNION_NOISE = {"float_type", "float_parsing", "int_type", "int_parsing", "none_required", "model_type"}


def load_spec(path: str | Path, *, check: bool = True) -> LoadedSpec:
    """Read, validate and cross-check a spec file; raise SpecErrors listing every problem."""
    path = Path(path)
    located = load_located(path)
    loaded = parse_spec(located, path)
    if check:
        loaded.warnings = check_spec(loaded)
    return loaded


def parse_spec(located: Located, path: Path) -> LoadedSpec:
    """Validate the YAML data against the pydantic models, mapping errors to positions."""
    try:
        spec = Spec.model_validate(located.data)
    except ValidationError as exc:
        raise SpecErrors(_errors_from(exc, located)) from None
    return LoadedSpec(spec=spec, path=path, text=located.text, located=located)


def _errors_from(exc: ValidationError, located: Located) -> list[SpecError]:
    """One located SpecError per distinct problem; union-branch noise dropped."""
    by_path: dict[KeyPath, list[dict]] = {}
    errors = exc.errors()
    for err in errors:
        if not _losing_branch(err, errors, located.data):
            by_path.setdefault(_data_path(err["loc"], located.data), []).append(err)
    out: list[SpecError] = []
    for path, errs in by_path.items():
        meaningful = [e for e in errs if e["type"] not in _UNION_NOISE] or [_all_branches(errs)]
        seen: set[str] = set()
        for err in meaningful:
            error = _one_error(err, path, located)
            if error.message not in seen:
                seen.add(error.message)
                out.append(error)
    return sorted(out, key=lambda e: (e.line or 0, e.col or 0))


_BRANCH_WORDS = {"float_type": "a number", "float_parsing": "a number", "int_type": "an integer",
                 "int_parsing": "an integer", "model_type": "a mapping"}


def _all_branches(errs: list[dict]) -> dict:
    """One error for a value that no branch of a union accepts: 'should be a number or a mapping'."""
    words = list(dict.fromkeys(_BRANCH_WORDS[e["type"]] for e in errs if e["type"] in _BRANCH_WORDS))
    if len(words) < 2:
        return errs[0]
    return {**errs[0], "type": "union_type", "msg": f"Input should be {' or '.join(words)}"}


def _losing_branch(err: dict, errors: list[dict], data: Any) -> bool:
    """A type error of a union branch the value was not written for, while another branch names the problem.

    ``severity: {levels: [7]}`` fails both ``float`` (not a number) and ``SeverityRange`` (level 7);
    only the second is news to the user. A branch tag is the last ``loc`` part when it is no key of the data.
    """
    loc = tuple(err["loc"])
    if err["type"] not in _UNION_NOISE or not loc or not isinstance(loc[-1], str):
        return False
    stem, node = loc[:-1], data
    for part in stem:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
    if isinstance(node, dict) and loc[-1] in node:
        return False
    return any(
        other["type"] not in _UNION_NOISE and tuple(other["loc"][: len(stem)]) == stem and tuple(other["loc"]) != loc
        for other in errors
    )


def _data_path(loc: tuple, data: Any) -> KeyPath:
    """Keep the parts of a pydantic ``loc`` that exist in the data (drops union branch names)."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not part[:1].isupper() and "[" not in part:
            path.append(part)  # a missing or unknown key
            node = None
    return tuple(path)


def _one_error(err: dict, path: KeyPath, located: Located) -> SpecError:
    kind = err["type"]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(path[:-1])
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return located.error(path, f"unknown key '{path[-1]}'; {hint}allowed: {', '.join(allowed)}", of_key=True)
    if kind == "missing":
        return located.error(path[:-1], f"missing required key '{path[-1]}'", of_key=True)
    if "input" in err and kind not in ("value_error", "assertion_error") and not isinstance(err["input"], dict):
        msg = f"{msg} (got {err['input']!r})"
    if len(path) > 2 and path[0] == "models" and path[2] == "operating_point":  # the model by name, not only index
        models = located.data.get("models") if isinstance(located.data, dict) else None
        name = models[path[1]].get("name") if isinstance(models, list) and isinstance(models[path[1]], dict) else None
        msg = f"model {name!r}: {msg}" if isinstance(name, str) else msg
    return located.error(path, msg)


def _allowed_keys(path: KeyPath) -> list[str]:
    """The keys the spec allows at ``path``, read off the pydantic models."""
    model: type[BaseModel] | None = Spec
    for part in path:
        if model is None:
            return []
        if isinstance(part, int):
            continue
        field_info = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == part), None
        )
        model = _model_in(field_info.annotation) if field_info else None
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation like ``list[Step] | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None or get_args(annotation):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
