"""Writing a file so that a crash never leaves half of it: write a temporary file beside
the target, then rename it over the target in one step (the course's saved pictures,
checkpoints, handouts and reports all do this)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to. When the block ends normally it is
    renamed over ``path`` in one step, with the rights a newly created file gets; when it
    raises, it is deleted and ``path`` is untouched. Parent folders are created.

    Example::

        with atomic_path("out/result.json") as tmp:
            tmp.write_text(text)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; use normal rights
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
