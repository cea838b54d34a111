"""The author's objection to a removal: ``/notifications/objection/<token>`` (DSA Art. 17, 20).

The link comes in the statement of reasons (:mod:`moderation.notify.readers`), signed like the
confirmation links and carrying the comment's id and the author's address hash. A GET shows
the form and changes nothing (mail scanners open links); the POST records the objection in the
comment's history (:func:`moderation.reports.record_objection`). As on the confirmation page,
readers have no session here, so ``Sec-Fetch-Site`` and ``Origin`` say where a post comes
from. The routes hang on the notifications blueprint, for its headers (no framing, no cache,
no Referer beyond our origin) and its pages for a bad link.
"""

from __future__ import annotations

from flask import Response, request

from .. import reports
from ..errors import InvalidInput, NotFound
from ..extensions import csrf
from ..notify import readers
from .notifications import _bad_link, _page, _refuse_cross_site, bp


def _link(token: str) -> readers.ObjectionLink:
    return readers.read_objection_token(token)


@bp.get("/objection/<token>")
def objection_page(token: str) -> Response:
    try:
        link = _link(token)
        comment = reports.objection_comment(link)
    except (readers.BadToken, NotFound) as error:
        return _bad_link(error)
    state = reports.objection_state(comment)
    return _page("objection", link.language, state=state, token=token, max_length=2000)


@bp.post("/objection/<token>")
@csrf.exempt  # no session to bind a token to; the origin check does this job (docstring)
def objection(token: str) -> Response:
    try:
        link = _link(token)
    except readers.BadToken as error:
        return _bad_link(error)
    _refuse_cross_site()
    text = request.form.get("objection", "")
    try:
        reports.record_objection(link, text)
    except NotFound as error:
        return _bad_link(error, link.language)
    except InvalidInput as error:
        comment = None
        try:
            comment = reports.objection_comment(link)
        except NotFound as gone:
            return _bad_link(gone, link.language)
        state = reports.objection_state(comment)
        if error.code not in ("objection_pending", "nothing_to_object"):
            state = "open"
        return _page(
            "objection",
            link.language,
            400,
            state=state,
            token=token,
            error=error.fields.get("objection") if error.fields else error.message,
            text=text,
            max_length=reports.MAX_EXPLANATION_LENGTH,
        )
    return _page("objection", link.language, state="done", token=token)
