"""Image paths named by annotation files stay inside the dataset's folder.

An annotation file comes with the data, not from the user who runs fieldready: a ``file_name`` of
``../../home/me/secret.png`` or ``/etc/...`` would make a run read (and its report show) a file
outside the dataset. The check is on the path as written, normalised with ``os.path.normpath``, not
on where symlinks lead: a symlink the user placed inside the images folder is the user's choice.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["within", "outside_hint"]


def within(folder: str | Path, name: str) -> Path | None:
    """``folder / name`` when ``name`` is a relative path that stays inside ``folder``; None otherwise.

    >>> within("images", "sub/a.jpg").as_posix(), within("images", "../a.jpg"), within("images", "/a.jpg")
    ('images/sub/a.jpg', None, None)
    """
    if os.path.isabs(name):
        return None
    norm = os.path.normpath(name)
    if norm == os.pardir or norm.startswith(os.pardir + os.sep):
        return None
    return Path(folder) / name  # as written (not normalised), so paths and data hashes stay as they were


def outside_hint(name: str, folder: str | Path, *, absolute_inside: bool = False) -> str:
    """Why ``name`` is refused and what to do, for a one-line DataError.

    ``absolute_inside``: absolute paths inside ``folder`` are accepted here (YOLO image lists), so an
    absolute ``name`` is refused for lying outside it.
    """
    if os.path.isabs(os.path.expanduser(name)):
        why = "is an absolute path outside the folder" if absolute_inside else "is an absolute path"
    else:
        why = "leads out of the folder with '..'"
    return (f"{name!r} {why}: fieldready reads only images inside {folder}; name the image by its path inside "
            "that folder (sub-folders are fine), or copy or link the image into it")
