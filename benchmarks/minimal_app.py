"""The yardstick: a minimal Flask app that answers the same requests from memory.

``make bench`` runs it under the same gunicorn settings as the service, in the same run, and
reports the service's figures as ratios to this app's. It is what Flask alone does on the
machine: the list is the same JSON (read once from ``BENCH_LIST_JSON``), serialized with
``jsonify`` on every request as a plain Flask route would; the 304 compares the ETag the same
way; the counts and the POST answer from memory without storing anything.
"""

from __future__ import annotations

import itertools
import json
import os

from flask import Flask, Response, jsonify, request

app = Flask(__name__)

with open(os.environ["BENCH_LIST_JSON"], encoding="utf-8") as f:
    LIST = json.load(f)
ETAG = "1.50.0"
COUNTS = {"counts": {f"a{i}": i for i in range(20)}}
_ids = itertools.count(1)


@app.get("/api/v1/sites/<site>/articles/<path:article>/comments")
def comments(site: str, article: str) -> Response:
    if request.if_none_match.contains(ETAG):
        response = Response(status=304)
    else:
        response = jsonify(LIST)
    response.set_etag(ETAG)
    response.cache_control.public = True
    response.cache_control.max_age = 10
    return response


@app.post("/api/v1/sites/<site>/articles/<path:article>/comments")
def submit(site: str, article: str) -> tuple[Response, int]:
    data = request.get_json()
    assert isinstance(data, dict)
    return jsonify({"id": next(_ids), "status": "pending", "token": "x" * 32}), 202


@app.get("/api/v1/sites/<site>/counts")
def counts(site: str) -> Response:
    request.args.getlist("article")
    return jsonify(COUNTS)


@app.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})
