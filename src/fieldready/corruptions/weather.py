"""Weather: fog, frost, snow, spatter and rain, with procedurally generated textures."""

from __future__ import annotations
