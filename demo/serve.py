"""Serve the demo newspaper (this folder) on its own origin, http://127.0.0.1:5001 by default.

The pages embed the comment service from another origin (http://127.0.0.1:5000), exactly as
a real news site would, so the demo goes through CORS and framing rules like production.
``--service`` points the pages at a service elsewhere; tests use :func:`make_app` the same way.
"""

from __future__ import annotations

import argparse
import mimetypes
from collections.abc import Callable, Iterable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICE = "http://127.0.0.1:5000"  # as written in the pages

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def make_app(service: str = SERVICE, extra: dict[str, str] | None = None) -> WsgiApp:
    """A WSGI app serving this folder's pages with the service's address put in.

    ``extra`` maps further paths to HTML (tests add host pages of their own this way).
    """

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/").lstrip("/") or "index.html"
        if extra and path in extra:
            body, kind = extra[path], "text/html"
        else:
            file = (HERE / path).resolve()
            if file.parent != HERE or not file.is_file() or file.suffix not in (".html", ".css"):
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found"]
            body, kind = file.read_text(encoding="utf-8"), mimetypes.guess_type(file.name)[0]
        data = body.replace(SERVICE, service.rstrip("/")).encode("utf-8")
        start_response(
            "200 OK",
            [
                ("Content-Type", f"{kind}; charset=utf-8"),
                ("Content-Length", str(len(data))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [data]

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--service", default=SERVICE, help="where the comment service runs")
    args = parser.parse_args()

    from werkzeug.serving import run_simple

    run_simple(args.host, args.port, make_app(args.service), threaded=True)


if __name__ == "__main__":
    main()
