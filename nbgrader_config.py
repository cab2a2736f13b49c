"""Course-wide nbgrader settings for "A primer on ML/DL with a focus on Neuroscience".

This one file serves everyone: nbgrader run with the course venv anywhere (the
venv's etc/jupyter points here, scripts/bootstrap), and on the hub (which copies
it at every start, primer/hub/course_setup.py) the nbgrader inside every
student's and instructor's server, the formgrader and the course owner's own
nbgrader. Change settings here, then restart the hub.
Per-person settings (an instructor's course directory, the gradebook's URL)
are written by the hub into that person's ~/.jupyter/nbgrader_config.py.
"""
import os

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "primer"

# One exchange for the hub. Tests and non-default installs point the servers
# at another one through the environment (the hub passes it to every server).
c.Exchange.root = os.environ.get("PRIMER_EXCHANGE_ROOT", "/srv/primer/exchange")
# Students' fetched work goes to ~/primer/<assignment>, so a second course on the
# same hub never collides with this one.
c.Exchange.path_includes_course = True
c.Exchange.timezone = "UTC"

# Autograding: a cell may take at most this long (the solutions take seconds).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# What nbgrader copies (from source/ into a release, from a student's folder), and what it
# refuses. 08's worked example writes its data beside the notebook when an author runs it
# in source/: never shipped to the students.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store", ".cache",
    "example_images", "oasis_example.csv", "development.csv",
]
c.CourseDirectory.max_file_size = 10_000  # kB per file

# Students see a friendly stub where the solution was.
c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Every autograde path (nbgrader autograde, the formgrader's button, primer
# autograde) runs the same steps. Before a notebook runs: refuse links, drop
# what nbgrader copied through them, put back deleted or edited test cells
# (primer/grading/integrity.py), then nbgrader's own sanitizing.
c.Autograde.sanitize_preprocessors = [
    "primer.grading.integrity.CheckSubmission",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Then every kernel runs in a sandbox (primer/grading/sandbox.py): no network,
# nothing of the course, the gradebook or other students visible, limits on
# memory (tmpfs included), processes, files and time; and tamper checks around
# every test cell. nbgrader's own list with its Execute step swapped for the
# sandboxed one, plus the step that records what the checks found.
c.Autograde.autograde_preprocessors = [
    "primer.grading.sandbox.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
    "primer.grading.integrity.RecordIntegrity",
]
# What the grader recorded (metadata.primer) survives nbconvert's metadata clearing.
c.ClearMetadataPreprocessor.preserve_nb_metadata_mask = {("language_info", "name"), ("primer",)}
c.SandboxedExecute.notebook_timeout = 600  # seconds for a whole notebook
c.SandboxedExecute.max_output_bytes = 200_000  # characters of output kept per cell
c.SandboxProvisioner.memory_limit = 6 * 1024 ** 3  # bytes, tmpfs files included (as root)
c.SandboxProvisioner.folder_size = 256 * 1024 ** 2  # the kernel's folder, /tmp: tmpfs sizes
c.SandboxProvisioner.tmp_size = 256 * 1024 ** 2

# Deadlines: each assignment's due date is nbgrader's own (the gradebook's
# assignment duedate: `nbgrader db assignment add <assignment> --duedate
# "2026-12-10 17:00 UTC"`); `primer extend` gives one student more time.
# Late work loses a share of its score per started day past the student's own
# due date (primer/grading/late_penalty.py); never below 0.
c.AssignLatePenalties.plugin_class = "primer.grading.late_penalty.PenaltyPerPeriod"
c.PenaltyPerPeriod.percent = 10
c.PenaltyPerPeriod.period_hours = 24
c.PenaltyPerPeriod.max_percent = 100

# Feedback shows which test failed and its message, never the hidden tests
# (nbgrader #917). nbgrader's own list, plus the step that hides them.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "primer.grading.feedback.HideHiddenTests",
]
