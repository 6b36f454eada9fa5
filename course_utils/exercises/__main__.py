"""Teachers' tools, from the command line (see :mod:`course_utils.exercises.classroom`):

    python -m course_utils.exercises report PATH... [--full] [--timeout S] [--csv FILE]
    python -m course_utils.exercises handout OUT_DIR [NOTEBOOK...]
"""

import sys

from .classroom import main

if __name__ == "__main__":
    sys.exit(main())
