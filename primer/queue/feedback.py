"""What a student sees from the grading queue: provisional feedback, or a notice where it will be.

``generate_queue_feedback`` runs nbgrader's own GenerateFeedback for one
student with the course's feedback preprocessors (hidden tests stay hidden,
primer.grading.feedback) plus ``QueueFeedback``, and the template
``templates/primer_queue``: which tests passed and failed, the automatic score
labelled provisional (or no score at all: PRIMER_QUEUE_SHOW_SCORES=0), and
written answers "graded by the team". The instructor's own
``nbgrader generate_feedback`` later makes the final feedback as usual.

``write_notice`` puts a short page where the submission's feedback will be
(exchange ``feedback/<hash>.html``, the name nbgrader's release_feedback uses),
so that Fetch Feedback tells the student that it waits, and why.
"""
from __future__ import annotations

import html
import os
import pwd
import stat
from pathlib import Path

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAME = "primer_queue"


class QueueFeedback(NbGraderPreprocessor):
    """Label each graded cell passed, failed or "graded by the team"; count them for the page."""

    show_scores = Bool(True, help="Show the provisional score and each test's points.").tag(config=True)

    def preprocess(self, nb, resources):
        counts = {"tests": 0, "passed": 0, "team": 0, "score": 0.0, "max_score": 0.0,
                  "team_points": 0.0}
        for cell in nb.cells:
            label = self.label(cell)
            if label is None:
                continue
            cell.metadata["primer_queue"] = label
            points = float(cell.metadata.nbgrader.get("points") or 0)
            if label["kind"] == "test":
                counts["tests"] += 1
                counts["passed"] += label["outcome"] == "passed"
                counts["score"] += float(cell.metadata.nbgrader.get("score") or 0)
                counts["max_score"] += points
            else:
                counts["team"] += 1
                counts["team_points"] += points
        resources["primer_queue"] = {"show_scores": self.show_scores, **counts}
        return nb, resources

    @staticmethod
    def label(cell) -> dict | None:
        if not utils.is_grade(cell):
            return None
        meta = cell.metadata.nbgrader
        if cell.cell_type == "code" and not utils.is_solution(cell):  # an autograded test cell
            score, points = meta.get("score"), meta.get("points")
            passed = score is not None and points is not None and float(score) >= float(points)
            return {"kind": "test", "title": f"Test {meta.get('grade_id')}",
                    "outcome": "passed" if passed else "failed"}
        # written answers and code answers graded by hand: a person gives their points
        return {"kind": "answer", "title": "Written answer" if cell.cell_type == "markdown"
                else "Answer graded by hand", "outcome": "team"}


def nbgrader_templates() -> Path:
    import nbgrader

    return Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates"


def queue_feedback_config(config, show_scores: bool):
    """``config`` plus the queue's template and labelling step."""
    from traitlets.config import Config

    extra = Config()
    extra.HTMLExporter.template_name = TEMPLATE_NAME
    extra.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(nbgrader_templates())]
    steps = list(config.GenerateFeedback.get("preprocessors", [
        "nbgrader.preprocessors.GetGrades", "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"]))
    extra.GenerateFeedback.preprocessors = steps + ["primer.queue.feedback.QueueFeedback"]
    extra.QueueFeedback.show_scores = show_scores
    merged = config.copy()
    merged.merge(extra)
    return merged


def generate_queue_feedback(course: Path, assignment: str, student: str, show_scores: bool) -> None:
    """feedback/<student>/<assignment>/ from the autograded notebook(s), with the queue's template."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    from primer.grading.course_settings import course_config

    config = queue_feedback_config(course_config(course), show_scores)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = assignment, student
    app = GenerateFeedback(coursedir=coursedir, config=config)
    # GenerateFeedback sets its own search path (bootstrap's CSS) when it starts; ours adds
    # nbgrader's templates folder, so that the queue's template extends 'feedback/index.html.j2'.
    paths = Config()
    paths.HTMLExporter.extra_template_paths = [*app.config.HTMLExporter.extra_template_paths,
                                               str(nbgrader_templates())]
    app.update_config(paths)
    app.force = True
    app.start()


# --------------------------------------------------------------------------- notices

NOTICE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h2 class="primer-queue-notice">{title}</h2>
<p>{message}</p>
<p><em>Fetch Feedback again in a little while: the feedback replaces this page.</em></p>
</body></html>
"""


def notice_names(secret: str, notebooks: list[str]) -> list[str]:
    """The file names nbgrader's release_feedback gives this submission's notebooks' feedback."""
    return [f"{utils.notebook_hash(secret=secret, notebook_id=name)}.html" for name in notebooks]


def write_notice(exchange_course: Path, owner: str, secret: str, notebooks: list[str],
                 title: str, message: str) -> None:
    """Put a notice where this submission's feedback will be released (written as ``owner``'s)."""
    entry = pwd.getpwnam(owner)
    folder = Path(exchange_course) / "feedback"
    if not folder.exists():  # as nbgrader's release_feedback makes it: 711, the course owner's
        folder.mkdir(mode=0o711)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid not in (0, entry.pw_uid) or info.st_mode & 0o022:
        raise PermissionError(f"{folder} is not a folder of the course owner's that only they write: "
                              "fix its owner and mode (711) before the queue writes there")
    page = NOTICE.format(title=html.escape(title), message=html.escape(message)).encode()
    for name in notice_names(secret, notebooks):
        temporary = folder / f".{name}.queue-tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as file:
            file.write(page)
        os.chown(temporary, entry.pw_uid, entry.pw_gid)
        os.replace(temporary, folder / name)
