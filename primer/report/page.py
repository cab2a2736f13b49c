"""`primer report <assignment>`: the class report as one static HTML file (figures inside).

    primer report 03_ml_evaluation                 -> exports/report-03_ml_evaluation.html
    primer report 03_ml_evaluation --output -      -> the page on stdout (the hub's staff page)

The same page is served to the staff on the hub by the grading queue's service
(/services/grading-queue/report/<assignment>). Jinja2 escapes every value: names,
messages and flags are bytes students control.
"""
from __future__ import annotations

import argparse
import base64
import math
import sys
from pathlib import Path

import jinja2
from markupsafe import Markup

from primer.report import figures
from primer.report.class_data import ClassData, read_class

TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Class report: {{ d.assignment }}</title>
<style>body{font-family:sans-serif;margin:1.5em;max-width:70em}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:.2em .5em;font-size:90%;vertical-align:top;text-align:left}
td.n{text-align:right}img{max-width:100%;border:1px solid #eee}.flag{color:#b00}</style></head>
<body><h1>Class report: {{ d.assignment }}</h1>
<p id="summary">Submissions in the gradebook: {{ d.submissions|length }}; maximum score {{ g(d.max_score) }};
due date: {% if d.duedate %}{{ d.duedate.strftime('%Y-%m-%d %H:%M') }} UTC{% else %}none set{% endif %}.
For the staff: hidden tests' messages appear below.</p>

<h2 id="distribution">Score distribution</h2>
{{ figure(figs.distribution, "score-distribution") }}

<h2 id="questions">Per question</h2>
{{ figure(figs.questions, "questions") }}
<table id="question-table"><tr><th>notebook</th><th>question</th><th>kind</th><th>points</th><th>mean</th>
<th>at full marks</th><th>discrimination (corrected item-total r)</th><th>not graded yet</th></tr>
{% for q in d.questions.itertuples() %}<tr><td>{{ q.notebook }}</td><td>{{ q.question }}</td><td>{{ q.kind }}</td>
<td class="n">{{ g(q.max_score) }}</td><td class="n">{{ '%.2f'|format(q.mean) }}</td>
<td class="n">{{ pct(q.share_full) }}</td><td class="n">{{ r(q.discrimination) }}</td>
<td class="n">{{ q.ungraded }}</td></tr>
{% endfor %}</table>
<p>Discrimination: how well a question separates strong from weak students (Pearson's r between
its score and the rest of the total; for a pass/fail test, the point-biserial correlation). Near 0
or negative: look at the question. "-": not computable (fewer than 3 students, or all scored the same).</p>

<h2 id="failed">Tests failed most often</h2>
{% if d.failed_tests %}<table id="failed-tests"><tr><th>notebook</th><th>test</th><th>failed</th><th>messages (times)</th></tr>
{% for notebook, test, n, messages in d.failed_tests %}<tr><td>{{ notebook }}</td><td>{{ test }}</td>
<td class="n">{{ n }}</td><td><ul>{% for m, c in messages %}<li><code>{{ m }}</code> ({{ c }})</li>{% endfor %}</ul></td></tr>
{% endfor %}</table>{% else %}<p>No test failed.</p>{% endif %}

<h2 id="timeline">Submissions over time</h2>
{{ figure(figs.timeline, "submissions-over-time") }}
<p>{% if d.duedate %}{{ d.submissions.late.sum() }} of {{ d.submissions|length }} submitted after their
due date.{% else %}No due date is set for {{ d.assignment }}.{% endif %}</p>

<h2 id="flagged">Flagged and voided submissions</h2>
{% if d.flagged %}<table id="flagged-table"><tr><th>student</th><th>notebook</th><th>why flagged</th><th>voided tests (pay 0)</th></tr>
{% for student, notebook, flags, voided in d.flagged %}<tr><td>{{ student }}</td><td>{{ notebook }}</td>
<td class="flag"><ul>{% for f in flags %}<li>{{ f }}</li>{% endfor %}</ul></td><td>{{ voided|join(', ') }}</td></tr>
{% endfor %}</table>{% else %}<p>None flagged.</p>{% endif %}

<h2 id="survey">Feedback survey (07_feedback)</h2>
{% if figs.survey %}{{ figure(figs.survey, "survey") }}
<table id="survey-table"><tr><th>block</th><th>mean rating</th><th>answers</th></tr>
{% for s in d.survey.itertuples() %}<tr><td>{{ s.block }}</td><td class="n">{{ r(s.mean) }}</td><td class="n">{{ s.n }}</td></tr>
{% endfor %}</table>{% else %}<p>No survey ratings collected yet.</p>{% endif %}

<h2 id="students">Submissions</h2>
<table id="students-table"><tr><th>student</th><th>name</th><th>submitted (UTC)</th><th>score</th><th>late</th></tr>
{% for s in d.submissions.itertuples() %}<tr><td>{{ s.student }}</td><td>{{ s.name }}</td>
<td>{{ s.timestamp.strftime('%Y-%m-%d %H:%M') if s.timestamp == s.timestamp and s.timestamp else '' }}</td>
<td class="n">{{ g(s.score) }}</td><td>{{ 'late' if s.late else '' }}</td></tr>
{% endfor %}</table>
</body></html>
"""


def _figure_html(figure: figures.Figure | None, name: str) -> Markup:
    if figure is None:
        return Markup("<p>No data for this figure yet.</p>")
    data = base64.b64encode(figure.png).decode("ascii")
    return Markup('<figure><img id="{}" src="data:image/png;base64,{}" alt="{}">'
                                 "<figcaption>{}</figcaption></figure>").format(
        name, Markup(data), figure.alt, figure.alt)


def _number(value: float, form: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else form.format(value)


class _Figures:
    def __init__(self, data: ClassData):
        self.distribution = figures.score_distribution(data)
        self.questions = figures.question_difficulty(data)
        self.timeline = figures.submissions_over_time(data)
        self.survey = figures.survey_ratings(data)


def render(data: ClassData) -> str:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(TEMPLATE)
    return template.render(d=data, figs=_Figures(data), figure=_figure_html,
                           g=lambda v: _number(v, "{:g}"), r=lambda v: _number(v, "{:.2f}"),
                           pct=lambda v: _number(None if v is None else v * 100, "{:.0f}%"))


def write_report(course: Path, assignment: str, output: Path | None = None) -> Path:
    """Write the report of ``assignment`` (default: <course>/exports/report-<assignment>.html,
    a folder git ignores: the report holds students' names and scores)."""
    output = Path(output or Path(course) / "exports" / f"report-{assignment}.html")
    page = render(read_class(Path(course), assignment))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    return output


def main(argv: list[str] | None = None) -> int:
    from primer.course import find_repo

    parser = argparse.ArgumentParser(prog="primer report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignment")
    parser.add_argument("--course", default=None, help="course directory (default: the current one)")
    parser.add_argument("--output", default=None,
                        help="the HTML file (default: <course>/exports/report-<assignment>.html; "
                             "- for stdout)")
    args = parser.parse_args(argv)
    try:
        course = find_repo(args.course)
        if args.output == "-":
            sys.stdout.write(render(read_class(course, args.assignment)))
        else:
            print(f"class report written to {write_report(course, args.assignment, args.output)}")
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
