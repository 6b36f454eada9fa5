"""``python -m course_utils.exercises report PATH...``: see :mod:`course_utils.exercises.report`."""

import sys

from .report import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "report":
        sys.exit("usage: python -m course_utils.exercises report PATH... [--full] [--timeout S] [--csv FILE]")
    sys.exit(main(args[1:]))
