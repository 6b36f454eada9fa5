"""Helper package for the course *Spatial Transformers and Neural Style Transfer*.

Each module holds one idea that a notebook has taught, so that later notebooks import it
instead of repeating it: ``config``, ``images``, ``geometry``, ``plotting``, ``data``,
``stn``, ``digits``, ``features``, ``weights``, ``losses``, ``colour``, ``transfer``
(with ``accel``, its GPU fast path), ``warps``, ``texture``, ``deform``, ``perf``,
``widgets`` and ``gallery``. The exercise checkers are the package ``course_exercises``.
"""

__version__ = "0.1.0"
