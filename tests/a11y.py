"""axe-core in the browser tests: scan a page and fail on serious or critical violations.

axe-core comes from the npm registry (``make axe``, run by ``make test``, puts it in
``node_modules/``); the tests read it from disk, so nothing is fetched at test time. Our pages
send a strict Content-Security-Policy (no inline scripts), which would block a ``<script>``
element added with the source inline. Playwright's ``page.evaluate`` runs in the page's main
world through the DevTools protocol, which the CSP does not govern, so the source goes in that
way, and the page under test keeps exactly the policy it ships with.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"

# What fails a test: the two highest of axe's four impacts (minor, moderate, serious, critical).
BLOCKING = ("serious", "critical")

# WCAG 2.0/2.1/2.2 A and AA, and axe's best practices (landmarks, one main, headings, regions).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


@functools.cache
def axe_source() -> str:
    """The axe-core script; skips (a failure in CI) when ``make axe`` has not been run."""
    if not AXE_JS.is_file():
        pytest.skip(f"no axe-core at {AXE_JS} (run `make axe`: npm install axe-core@4)")
    return AXE_JS.read_text(encoding="utf-8")


def inject(page: Any) -> None:
    """Load axe-core into the page (once per document) past its CSP; see the module docstring."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # The UMD wrapper defines window.axe when it runs with a window: wrapped in a function,
        # the source's "this" does not matter.
        page.evaluate("() => {\n" + axe_source() + "\n}")
    assert page.evaluate("() => typeof window.axe.run === 'function'"), "axe-core did not load"


def scan(page: Any, include: str | None = None, rules: list[str] | None = None) -> dict:
    """axe's results for the page, or for the part under the CSS selector ``include`` (the
    widget's shadow tree counts as under its host). ``rules`` runs only those rules."""
    inject(page)
    options: dict[str, Any] = {"resultTypes": ["violations", "incomplete"]}
    options["runOnly"] = (
        {"type": "rule", "values": rules} if rules else {"type": "tag", "values": TAGS}
    )
    return page.evaluate(
        """([include, options]) => axe.run(include ? { include: [include] } : document, options)""",
        [include, options],
    )


def describe(violations: list[dict]) -> str:
    """Violations as a moderator of the code would want to read them: rule, impact, what to do,
    and each element (its selector, what is wrong, its HTML)."""
    lines = []
    for violation in violations:
        impact, rule = violation["impact"], violation["id"]
        lines.append(f"[{impact}] {rule}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"]:
            lines.append(f"    at {node['target']}")
            for line in (node.get("failureSummary") or "").splitlines():
                lines.append(f"        {line.strip()}")
            lines.append(f"        {node['html'][:200]}")
    return "\n".join(lines)


def assert_accessible(
    page: Any, where: str, include: str | None = None, rules: list[str] | None = None
) -> dict:
    """Fail with a readable list when axe finds serious or critical violations on the page
    (``where`` names it in the message); returns axe's results for further checks."""
    results = scan(page, include, rules)
    assert results["passes"], f"axe-core checked nothing on {where}"
    blocking = [v for v in results["violations"] if v["impact"] in BLOCKING]
    if blocking:
        pytest.fail(f"axe-core on {where}:\n{describe(blocking)}", pytrace=False)
    return results
