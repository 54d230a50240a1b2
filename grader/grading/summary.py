"""summary.html: one self-contained page for the instructor (inline CSS and SVG, no scripts)."""

from __future__ import annotations

from collections import Counter
from html import escape

from grader.grading.gradebook import Gradebook

BINS = 10
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .6rem;
text-align:left}th{background:#f4f4f4}.num{text-align:right}.bad{color:#b00020;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{border:1px solid #eee;padding:.5rem}
code{font-size:.9em}.muted{color:#777}
"""


def _histogram(title: str, scores: list[float], maximum: float) -> str:
    """An SVG bar chart of how many students fall in each tenth of the lab's points."""
    counts = [0] * BINS
    for value in scores:
        index = BINS - 1 if maximum <= 0 else min(int(value / maximum * BINS), BINS - 1)
        counts[index] += 1
    width, height, pad = 320, 160, 24
    bar = (width - 2 * pad) / BINS
    top = max(counts) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="13">{escape(title)}</text>',
    ]
    for i, count in enumerate(counts):
        h = (height - 2 * pad) * count / top
        x, y = pad + i * bar, height - pad - h
        low = maximum * i / BINS
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
            f'fill="#3b7dd8"><title>{count} student(s) from {low:g} points</title></rect>'
        )
        if count:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'font-size="11">{count}</text>'
            )
    parts.append(
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#444"/>'
    )
    for i in (0, BINS // 2, BINS):
        x = pad + i * bar
        parts.append(
            f'<text x="{x:.1f}" y="{height - pad + 14}" text-anchor="middle" font-size="11">'
            f"{maximum * i / BINS:g}</text>"
        )
    parts.append(
        f'<text x="{width / 2}" y="{height + 20}" text-anchor="middle" font-size="11" '
        'fill="#777">points</text></svg>'
    )
    return "".join(parts)


def render(book: Gradebook) -> str:
    students = book.students
    html = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Grading summary</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Grading summary</h1>",
        f"<p>{len(students)} student(s), labs {', '.join(book.labs)}; {book.runs} run(s) made "
        f"in {book.seconds:g} s (the rest from the cache).</p>",
    ]
    if book.problems:
        html.append("<h2 class='bad'>Problems with the grading itself</h2><ul>")
        html += [f"<li class='bad'>{escape(p)}</li>" for p in book.problems]
        html.append(
            "</ul><p>These runs failed for the grader's reasons (the database, the sandbox), "
            "not the students': they were not cached, so grading the batch again redoes them.</p>"
        )
    html.append("<h2>Score distribution per lab</h2><div class='charts'>")
    for lab_id, lab in book.labs.items():
        scores = [s.labs[lab_id].score for s in students if lab_id in s.labs]
        mean = sum(scores) / len(scores) if scores else 0
        html.append(
            f"<div class='chart'>{_histogram(f'Lab {lab_id} · {lab.title}', scores, lab.points)}"
            f"<div class='muted'>mean {mean:.2f} / {lab.points}</div></div>"
        )
    html.append("</div>")
    failed: Counter[tuple[str, str]] = Counter()
    for student in students:
        for lab in student.labs.values():
            for task in lab.tasks:
                for test in task.tests:
                    if test.status != "passed":
                        failed[(lab.lab_id, test.nodeid)] += 1
    html.append("<h2>Most-failed tests</h2>")
    if failed:
        html.append("<table><tr><th>lab</th><th>test</th><th class='num'>failed by</th></tr>")
        for (lab_id, nodeid), count in failed.most_common(15):
            html.append(
                f"<tr><td>{lab_id}</td><td><code>{escape(nodeid)}</code></td>"
                f"<td class='num'>{count} of {len(students)}</td></tr>"
            )
        html.append("</table>")
    else:
        html.append("<p>Every test passed for every student.</p>")
    html.append("<h2>Flags</h2>")
    flagged = [(s, lab) for s in students for lab in s.labs.values() if lab.flags]
    whole = [s for s in students if s.flags]
    if flagged or whole:
        html.append("<table><tr><th>student</th><th>lab</th><th>flags</th><th>details</th></tr>")
        for student in whole:
            # The notes say why (what could not be read, which protected files were edited).
            notes = student.notes + [n for lab in student.labs.values() for n in lab.notes]
            html.append(
                f"<tr><td>{escape(student.id)}</td><td>all</td>"
                f"<td>{escape(', '.join(student.flags))}</td>"
                f"<td>{escape('; '.join(notes[:5]))}</td></tr>"
            )
        for student, lab in flagged:
            css = " class='bad'" if "integrity" in lab.flags else ""
            html.append(
                f"<tr><td>{escape(student.id)}</td><td>{lab.lab_id}</td>"
                f"<td{css}>{escape(', '.join(lab.flags))}</td>"
                f"<td>{escape('; '.join(lab.instructor_notes + lab.notes))}</td></tr>"
            )
        html.append("</table><p class='muted'>Raw output of every run: <code>_logs/</code>.</p>")
    else:
        html.append("<p>No integrity, timeout or crash flags.</p>")
    html.append("<h2>Gradebook</h2><table><tr><th>student</th>")
    html += [f"<th class='num'>lab {lab_id}</th>" for lab_id in book.labs]
    html.append("<th class='num'>total</th></tr>")
    for student in students:
        cells = "".join(
            f"<td class='num'>{student.labs[lab_id].score:g}</td>" for lab_id in book.labs
        )
        html.append(
            f"<tr><td>{escape(student.id)}</td>{cells}"
            f"<td class='num'>{student.score:g} / {student.max_score:g}</td></tr>"
        )
    html.append("</table><h2>How runs were confined</h2><ul>")
    html += [f"<li>{escape(line)}</li>" for line in book.isolation]
    html.append("</ul></body></html>")
    return "\n".join(html) + "\n"
