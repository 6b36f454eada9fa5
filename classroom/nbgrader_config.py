"""nbgrader's configuration for the course (copied into the course folder by
`python -m course_tools.classroom source`; docs/teaching.md, "Assessed work")."""

c = get_config()  # noqa: F821 (nbgrader's config loader provides it)

c.CourseDirectory.course_id = "st-nst"
# The course folder is where nbgrader runs (build/classroom); each assignment is one notebook.
c.CourseDirectory.root = "."

# The student version keeps the course's own template above the cleared region (the learner
# fills that in), so the region leaves only a line behind, not nbgrader's raising stub.
c.ClearSolutions.code_stub = {"python": "# (your answer goes in the template above)"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Grading: a cell may run 10 minutes in full mode; a notebook that errors still gets graded.
c.Execute.timeout = 600
c.Execute.allow_errors = True
c.Execute.interrupt_on_timeout = True

# Grades leave as CSV written by the csv module, formula cells escaped.
c.ExportApp.plugin_class = "course_tools.classroom.SafeCsvExportPlugin"

# The exchange (hub classrooms): nbgrader's default folder; make it on the hub once with
#   mkdir -p /srv/nbgrader/exchange && chmod ugo+rw /srv/nbgrader/exchange
c.Exchange.root = "/srv/nbgrader/exchange"
