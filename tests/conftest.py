"""Shared test set-up: every test runs in fast mode, offline, with few threads."""

from __future__ import annotations

import os

# Set before course_utils is imported so that config.FAST/OFFLINE see it.
os.environ.setdefault("COURSE_FAST", "1")
os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
