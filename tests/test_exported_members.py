"""The public API is exactly what __all__ curates, and every name resolves."""

from __future__ import annotations

import fieldready


def test_all_exports_resolve() -> None:
    for name in fieldready.__all__:
        assert getattr(fieldready, name) is not None, name


def test_no_unlisted_public_names() -> None:
    public = {n for n in dir(fieldready) if not n.startswith("_")}
    assert public == {n for n in fieldready.__all__ if not n.startswith("_")}
