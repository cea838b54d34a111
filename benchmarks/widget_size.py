"""Print the widget's size as served: raw, and gzipped (the budget is 8 KB = 8192 bytes).

Run: ``.venv/bin/python benchmarks/widget_size.py``. The sizes are of what ``/embed.js`` and
``/count.js`` actually send: the source with its CSS inlined and lightly minified.
"""

from __future__ import annotations

import tempfile

from moderation import create_app
from moderation.public.embed import load_script

BUDGET = 8192


def main() -> None:
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({"INSTANCE_PATH": instance, "SECRET_KEY": "size"})
        with app.app_context():
            for name in ("embed.js", "count.js"):
                script = load_script(name)
                print(f"{name:9} {len(script.body):6} bytes raw, {len(script.gzipped):5} gzipped")
            widget = load_script("embed.js")
            left = BUDGET - len(widget.gzipped)
            print(f"budget    {BUDGET} bytes gzipped for embed.js; {left} bytes to spare")


if __name__ == "__main__":
    main()
