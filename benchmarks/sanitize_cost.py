"""Print what ``sanitize.render`` costs per family of input, as a ratio to prose of the same length.

Run: ``.venv/bin/python benchmarks/sanitize_cost.py`` (``--length 5000`` is the body limit).
Each row is one way to write a comment, repeated to the length: the CPU time of rendering it
(the least of a few runs, so other work on the machine does not count), that time divided by the
time for German prose of the same length, and how the time grows when the text is four times
as long (4 is linear, 16 quadratic). ``--before`` adds the same figures for the pipeline as it
was: bleach's own URL_RE and EMAIL_RE, and an HTML parser without limits (slow: seconds a row).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bleach.linkifier import EMAIL_RE, URL_RE, LinkifyFilter
from bleach.sanitizer import Cleaner

from moderation import sanitize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import least_cpu_seconds  # noqa: E402 (needs the root on the path)

PROSE = (
    "Die Zahlen sind nachvollziehbar, aber die Schlussfolgerung greift zu kurz. Wer im Winter "
    "mit dem Zug von München nach Hamburg fährt, weiß, wie oft es Verspätungen gibt. "
)


def repeat(unit: str) -> Callable[[int], str]:
    return lambda n: (unit * (n // len(unit) + 1))[:n]


def tags_then_paragraphs(tag: str) -> Callable[[int], str]:
    """Open elements that all differ, then many paragraphs, in each of which they are re-opened."""

    def make(n: int) -> str:
        tags = "".join(f"<{tag} title={i}>" for i in range(n))[: n // 2]
        return tags + ("\n\nx" * n)[: n - len(tags)]

    return make


FAMILIES: dict[str, Callable[[int], str]] = {
    "German prose": repeat(PROSE),
    "prose with links": repeat(PROSE + "siehe https://example.com/a?b=c und anna@example.org. "),
    "a": repeat("a"),
    "1": repeat("1"),
    "_": repeat("_"),
    "-": repeat("-"),
    "a-": repeat("a-"),
    "a.b-": repeat("a.b-"),
    "a.": repeat("a."),
    "www.": repeat("www."),
    "(": repeat("("),
    "http://aaa…": lambda n: ("http://" + "a" * n)[:n],
    "@": repeat("@"),
    "a@": repeat("a@"),
    "a.a@": repeat("a.a@"),
    "a@a.": repeat("a@a."),
    "äöüß": repeat("äöüß"),
    "a ": repeat("a "),
    "(x.de": repeat("(x.de"),
    "&": repeat("&"),
    "&#": repeat("&#"),
    "&a": repeat("&a"),
    "&amp": repeat("&amp"),
    "<": repeat("<"),
    "<!": repeat("<!"),
    "<a": repeat("<a"),
    "<b>": repeat("<b>"),
    "<b>x</b> ": repeat("<b>x</b> "),
    "<blockquote>": repeat("<blockquote>"),
    "<br>, paragraphs": repeat("<br>\n\n"),
    "<b title=N>, paragraphs": tags_then_paragraphs("b"),
    "<a title=N>, paragraphs": tags_then_paragraphs("a"),
}

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


def _plain_before(line: str) -> bool:
    if "<" in line or "&" in line or URL_RE.search(line) or EMAIL_RE.search(line):
        return False
    try:
        line.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _render_before(text: str, cleaner: Cleaner) -> str:
    """``render`` as it was before issue 16: bleach's patterns, no limits on the parser."""
    text = sanitize.normalize_text(text)
    if not text:
        return ""
    paragraphs = [p.split("\n") for p in _PARAGRAPH_BREAK.split(text)]
    if all(_plain_before(line) for lines in paragraphs for line in lines):
        escaped = [[line.replace(">", "&gt;") for line in lines] for lines in paragraphs]
        return "".join(f"<p>{'<br>'.join(lines)}</p>" for lines in escaped)
    markup = "".join(f"<p>{'<br>'.join(lines)}</p>" for lines in paragraphs)
    return cleaner.clean(markup.replace("<!", "&lt;!"))


def before() -> Callable[[str], str]:
    cleaner = sanitize.new_cleaner(Cleaner, LinkifyFilter)
    return partial(_render_before, cleaner=cleaner)


def cpu_seconds(render: Callable[[str], str], text: str, runs: int) -> float:
    return least_cpu_seconds(lambda: render(text), runs)


def figures(render: Callable[[str], str], length: int, runs: int) -> dict[str, tuple]:
    """Per family: ms at ``length``, the ratio to prose, and the growth from length/4 to length."""
    prose = cpu_seconds(render, FAMILIES["German prose"](length), runs)
    rows = {}
    for name, make in FAMILIES.items():
        seconds = cpu_seconds(render, make(length), runs)
        growth = seconds / cpu_seconds(render, make(length // 4), runs)
        rows[name] = (seconds * 1000, seconds / prose, growth)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", action="store_true", help="also the pipeline as it was")
    args = parser.parse_args()
    now = figures(sanitize.render, args.length, args.runs)
    then = figures(before(), args.length, 1) if args.before else {}
    columns = "ms | × prose | growth ×4 |"
    print(f"| input, {args.length} characters | {columns}" + f" before: {columns}" * bool(then))
    print("| --- | ---: | ---: | ---: |" + " ---: | ---: | ---: |" * bool(then))
    for name, row in now.items():
        cells = [row, then[name]] if then else [row]
        text = " | ".join(f"{ms:.1f} | {ratio:.1f} | {growth:.1f}" for ms, ratio, growth in cells)
        print(f"| `{name}` | {text} |")


if __name__ == "__main__":
    main()
