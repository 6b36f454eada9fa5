"""Tools for maintainers and teachers, kept apart from the learners' package ``course_utils``.

Learners never need to open anything here:

* :mod:`course_tools.classroom` writes nbgrader's course folder from the notebooks and grades
  submissions confined (``make handout``, ``make classroom-test``);
* :mod:`course_tools.site` and :mod:`course_tools.imagenet_report` build the website
  (``make site``) and the check with the ImageNet weights (``make verify-imagenet``);
* :mod:`course_tools.translate` builds the Chinese notebooks from their catalogs (``make zh``);
* :mod:`course_tools.gallery` regenerates the README's figures (``make gallery``);
* :mod:`course_tools.weights_cli` and :mod:`course_tools.styles` prepare the weights and the
  generated styles (``make weights``, ``make styles``);
* :mod:`course_tools.results` reads the stored benchmark figures that notebook 07 shows;
* :mod:`course_tools.single_source` checks that each function a notebook teaches is the
  same code as the package's (``tests/test_single_source.py``);
* :mod:`course_tools.fallback` and :mod:`course_tools.stn_experiment` hold the research behind
  the optional notebooks 03b and 02b.
"""
