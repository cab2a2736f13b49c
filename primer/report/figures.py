"""The class report's figures: matplotlib (Agg) PNGs, each with alt text computed from its data,
so that a screen reader (or a static HTML file read without images) says what the figure shows."""
from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # no display: a hub service, a CI runner, a terminal over ssh
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from primer.report.class_data import ClassData  # noqa: E402


@dataclass
class Figure:
    png: bytes
    alt: str


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _g(value: float) -> str:
    return f"{value:.3g}"


def score_distribution(data: ClassData) -> Figure | None:
    scores = data.submissions["score"]
    if scores.empty:
        return None
    figure, axes = plt.subplots(figsize=(6, 3))
    bins = np.linspace(0, max(data.max_score, scores.max(), 1), min(20, max(5, len(scores))) + 1)
    axes.hist(scores, bins=bins, color="#4c72b0", edgecolor="white")
    axes.axvline(scores.median(), color="black", linestyle="--", label=f"median {_g(scores.median())}")
    axes.set(xlabel=f"total score (of {_g(data.max_score)})", ylabel="submissions",
             title=f"{data.assignment}: score distribution")
    axes.legend()
    alt = (f"Histogram of {len(scores)} total scores for {data.assignment}: median "
           f"{_g(scores.median())} of {_g(data.max_score)}, lowest {_g(scores.min())}, "
           f"highest {_g(scores.max())}.")
    return Figure(_png(figure), alt)


def question_difficulty(data: ClassData) -> Figure | None:
    questions = data.questions
    if questions.empty:
        return None
    labels = [f"{q.notebook}: {q.question}" for q in questions.itertuples()]
    mean_share = (questions["mean"] / questions["max_score"].where(questions["max_score"] > 0)).fillna(0)
    height = 1 + 0.3 * len(labels)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, height), sharey=True)
    rows = np.arange(len(labels))
    left.barh(rows, mean_share, color="#4c72b0", label="mean (share of points)")
    left.barh(rows, questions["share_full"].fillna(0), height=0.3, color="#dd8452",
              label="share at full marks")
    left.set(yticks=rows, yticklabels=labels, xlim=(0, 1), xlabel="share", title="difficulty")
    left.invert_yaxis()
    left.legend(fontsize="small", loc="lower right")
    right.barh(rows, questions["discrimination"].fillna(0), color="#55a868")
    right.axvline(0, color="black", linewidth=0.8)
    right.set(xlim=(-1, 1), xlabel="corrected item-total r",
              title="discrimination (blank: not computable)")
    figure.suptitle(f"{data.assignment}: per question", y=1 + 0.35 / height)  # above the panels' titles
    hardest = questions.loc[mean_share.idxmin()]
    alt = (f"Bar charts of {len(questions)} questions of {data.assignment}: hardest "
           f"{hardest['question']} (mean {_g(hardest['mean'])} of {_g(hardest['max_score'])}), "
           f"easiest {questions.loc[mean_share.idxmax(), 'question']}")
    usable = questions.dropna(subset=["discrimination"])
    if not usable.empty:
        low = usable.loc[usable["discrimination"].idxmin()]
        alt += f"; lowest discrimination {low['question']} (r = {low['discrimination']:.2f})"
    else:
        alt += "; discrimination not computable (too few students or identical scores)"
    return Figure(_png(figure), alt + ".")


def submissions_over_time(data: ClassData) -> Figure | None:
    times = data.submissions["timestamp"].dropna().sort_values()
    if times.empty:
        return None
    figure, axes = plt.subplots(figsize=(6, 3))
    axes.step(times, np.arange(1, len(times) + 1), where="post", color="#4c72b0")
    axes.plot(times, np.arange(1, len(times) + 1), "o", color="#4c72b0", markersize=3)
    alt = (f"Cumulative count of {len(times)} submissions to {data.assignment} from "
           f"{times.iloc[0]:%Y-%m-%d %H:%M} to {times.iloc[-1]:%Y-%m-%d %H:%M} UTC")
    if data.duedate is not None:
        axes.axvline(data.duedate, color="#c44e52", linestyle="--", label="due date")
        axes.legend()
        late = int(data.submissions["late"].sum())
        alt += f"; due {data.duedate:%Y-%m-%d %H:%M} UTC, {late} submitted after their due date."
    else:
        alt += "; no due date is set."
    shown = [times.iloc[0], times.iloc[-1], *([data.duedate] if data.duedate is not None else [])]
    pad = max((max(shown) - min(shown)) * 0.05, pd.Timedelta(hours=1))  # one submission: a window, not years
    axes.set_xlim(min(shown) - pad, max(shown) + pad)
    axes.set_ylim(0, len(times) + 0.5)
    axes.set(xlabel="submitted (UTC)", ylabel="submissions so far",
             title=f"{data.assignment}: submissions over time")
    figure.autofmt_xdate()
    return Figure(_png(figure), alt)


def survey_ratings(data: ClassData) -> Figure | None:
    survey = data.survey
    if survey is None or survey["n"].sum() == 0:
        return None
    figure, axes = plt.subplots(figsize=(6, 3))
    rows = np.arange(len(survey))
    axes.barh(rows, survey["mean"].fillna(0), color="#8172b3")
    axes.set(yticks=rows, yticklabels=[f"{b} (n={n})" for b, n in zip(survey["block"], survey["n"])],
             xlim=(0, 5), xlabel="mean rating (1-5)", title="07_feedback: ratings")
    axes.invert_yaxis()
    rated = survey.dropna(subset=["mean"])
    best, worst = rated.loc[rated["mean"].idxmax()], rated.loc[rated["mean"].idxmin()]
    alt = (f"Bar chart of the feedback survey's mean ratings (1-5) for {len(rated)} blocks from up "
           f"to {int(survey['n'].max())} attendees: highest {best['block']} ({best['mean']:.2f}), "
           f"lowest {worst['block']} ({worst['mean']:.2f}).")
    return Figure(_png(figure), alt)
