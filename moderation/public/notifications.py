"""The reader's pages behind the links in their mails: confirm an address, unsubscribe.

* ``/notifications/confirm/<token>``: a GET shows a page with a button and changes nothing
  (mail scanners open links to look at them; a look must not confirm anything). The button
  POSTs, and only our own page may post it: readers have no session here, so, as on the no-JS
  comment page, the browser's ``Sec-Fetch-Site`` and ``Origin`` say where a post comes from.
* ``/notifications/unsubscribe/<token>``: a GET shows a page with a button; a POST whose body
  is ``List-Unsubscribe=One-Click`` unsubscribes at once and answers 200 (RFC 8058). Mail
  clients send that POST themselves, without cookies, CSRF token or a fixed ``Origin``, so no
  origin is checked: the signed token is the whole proof, and all it can do is stop mail. The
  page's own button sends the same body.

The token carries the address's keyed hash, the page's language and the comment that asked
for it (see :mod:`moderation.notify.readers`). Confirming also hands this browser a reader key,
in the fragment of the link back to the article (:mod:`moderation.trust`). A bad or expired
link gets a clear 400 page and changes nothing. The pages are never framed, never cached and
leak no token in a Referer.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from flask_babel import force_locale

from .. import rules, sites
from ..errors import Forbidden, InvalidInput, NotFound
from ..extensions import csrf
from ..notify import readers

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

# Our own stylesheet, our own form, nothing else; never inside a frame.
POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

ONE_CLICK = ("List-Unsubscribe", "One-Click")


@bp.after_request
def secure_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Not no-referrer: with it, browsers send "Origin: null" on the page's own POST. The token
    # is in the address, so it must not travel to anyone else: same-origin.
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Robots-Tag"] = "noindex"
    response.cache_control.no_store = True
    return response


def _guess_language() -> str:
    """For a link we cannot read: the browser's language, else German (we publish in German)."""
    return request.accept_languages.best_match(rules.LANGUAGES) or "de"


def _page(template: str, language: str, status: int = 200, **context: object) -> Response:
    with force_locale(language):
        html = render_template(f"notifications/{template}.html", html_lang=language, **context)
    return Response(html, status=status, mimetype="text/html")


def _bad_link(error: InvalidInput | NotFound, language: str | None = None) -> Response:
    """A link that cannot do its job: why, in the reader's language, and nothing changed."""
    if isinstance(error, readers.ExpiredToken) and error.language:
        language = error.language
    return _page("invalid", language or _guess_language(), error.status, code=error.code)


def _refuse_cross_site() -> None:
    """Only the confirmation page itself may post its button (see the module docstring).
    Clients that send neither header (curl) are no browser and ride on no one's session."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if (fetch_site is not None and fetch_site != "same-origin") or (
        origin is not None and origin != sites.own_origin()
    ):
        raise Forbidden("This form can only be sent from its own page.", code="forbidden_origin")


@bp.get("/confirm/<token>")
def confirm_page(token: str) -> Response:
    try:
        link = readers.read_confirm_token(token)
    except readers.BadToken as error:
        return _bad_link(error)
    state = readers.address_state(link)
    if state is None:
        return _bad_link(NotFound("unknown", code="unknown_address"), link.language)
    return _page("confirm", link.language, state=state, token=token)


@bp.post("/confirm/<token>")
@csrf.exempt  # no session to bind a token to; the origin check does this job (docstring)
def confirm(token: str) -> Response:
    try:
        link = readers.read_confirm_token(token)
    except readers.BadToken as error:
        return _bad_link(error)
    _refuse_cross_site()
    try:
        confirmed = readers.confirm(link)
    except (readers.BadToken, NotFound) as error:
        return _bad_link(error, link.language)
    # The link back to the article carries this browser's reader key in its fragment (see
    # moderation.trust): the page is never cached and the fragment is sent to no server.
    return _page(
        "confirm",
        link.language,
        state="done",
        token=token,
        article_url=confirmed.article_url,
    )


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Response:
    try:
        link = readers.read_unsubscribe_token(token)
    except readers.BadToken as error:
        return _bad_link(error)
    state = readers.address_state(link)
    return _page("unsubscribe", link.language, state=state, token=token, one_click=ONE_CLICK)


def _is_one_click() -> bool:
    """RFC 8058's body, ``List-Unsubscribe=One-Click``, form-encoded (urlencoded or multipart)
    as the RFC says, or as bare text from a client that does not label it."""
    name, value = ONE_CLICK
    if request.form.get(name) == value:
        return True
    return request.get_data(cache=True).strip() == f"{name}={value}".encode()


@bp.post("/unsubscribe/<token>")
@csrf.exempt  # RFC 8058: mail clients post it without cookies or tokens (module docstring)
def unsubscribe(token: str) -> Response:
    try:
        link = readers.read_unsubscribe_token(token)
    except readers.BadToken as error:
        return _bad_link(error)
    if not _is_one_click():
        return _page("invalid", link.language, 400, code="not_one_click")
    readers.unsubscribe(link)
    return _page("unsubscribe", link.language, state="done", token=token, one_click=ONE_CLICK)
