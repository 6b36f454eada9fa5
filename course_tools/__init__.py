"""Tools for maintainers and teachers, kept apart from the learners' package ``course_utils``.

Learners never need to open anything here:

* :mod:`course_tools.gallery` regenerates the README's figures (``make gallery``);
* :mod:`course_tools.classroom` writes the handout and reports on learners' notebooks
  (``make handout``, ``python -m course_tools.classroom report``);
* :mod:`course_tools.results` reads the stored benchmark figures that notebook 07 shows;
* :mod:`course_tools.single_source` checks that each function a notebook teaches is the
  same code as the package's (``tests/test_single_source.py``).
"""
