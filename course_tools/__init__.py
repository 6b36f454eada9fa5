"""Tools for maintainers and teachers (``make handout``, ``site``, ``zh``, ``gallery``, ``weights``,
``styles``, ``verify-imagenet``), kept apart from the learners' ``course_utils``: each module's
docstring says what it does. Nothing in ``course_utils`` or ``course_exercises`` imports it."""
