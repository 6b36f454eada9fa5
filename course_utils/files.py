"""Write a file whole or not at all: a temporary file beside the target, renamed over it in
one step (saved pictures, checkpoints, handouts and reports all write this way)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (parents created) to write to, e.g.
    ``with atomic_path(p) as tmp: tmp.write_text(text)``. A block that ends normally renames
    it over ``path`` with a new file's usual rights; one that raises deletes it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)  # reading the umask means setting it: set it back at once
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; use normal rights
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
