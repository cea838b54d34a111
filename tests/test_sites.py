"""A site's abuse policy: ``update_policy`` and ``flask --app wsgi sites set|show``."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from helpers import site, snapshot

from moderation import sites
from moderation.errors import InvalidInput, NotFound


def test_policy_defaults_and_overrides(app: Flask) -> None:
    with app.app_context():
        app.config.update(MAX_LINKS=2, RATE_LIMIT_PER_MINUTE=3, RATE_LIMIT_PER_HOUR=20)
        default = sites.policy(site(app))
        assert (default.max_links, default.max_links_is_default) == (2, True)
        assert (default.rate_limit_per_minute, default.rate_limit_per_hour) == (3, 20)
        sites.update_policy(
            "demo",
            max_links=0,
            rate_limit_per_minute=10,
            rate_limit_per_hour=0,
            blocked_words=["Idiot", " idiot ", "dumme  kuh"],
            watched_words=["Lügenpresse"],
            paused=True,
        )
        own = sites.policy(site(app))
        assert (own.max_links, own.max_links_is_default) == (0, False)
        assert (own.rate_limit_per_minute, own.rate_limit_per_hour) == (10, 0)
        assert own.blocked_words == ["Idiot", "dumme kuh"]
        assert own.watched_words == ["Lügenpresse"]
        assert own.paused
        # Untouched settings stay; None goes back to the default.
        sites.update_policy("demo", rate_limit_per_minute=None, paused=False)
        again = sites.policy(site(app))
        assert (again.rate_limit_per_minute, again.rate_limit_per_minute_is_default) == (3, True)
        assert again.rate_limit_per_hour == 0
        assert again.blocked_words == ["Idiot", "dumme kuh"]
        assert not again.paused


@pytest.mark.parametrize(
    "changes",
    [
        {"max_links": -1},
        {"max_links": 1001},
        {"max_links": "2"},
        {"max_links": True},
        {"rate_limit_per_minute": -5},
        {"rate_limit_per_hour": 100_001},
        {"paused": "yes"},
        {"blocked_words": ["id*ot"]},
        {"watched_words": ["x" * 101]},
        {"blocked_words": ["ok"], "max_links": -1},  # one bad value and nothing changes
    ],
)
def test_update_policy_refuses_bad_values(app: Flask, changes: dict) -> None:
    before = snapshot(app)
    with app.app_context(), pytest.raises(InvalidInput):
        sites.update_policy("demo", **changes)
    assert snapshot(app) == before


def test_update_policy_of_an_unknown_site(app: Flask) -> None:
    with app.app_context(), pytest.raises(NotFound):
        sites.update_policy("nope", paused=True)


# --- CLI -------------------------------------------------------------------------------------


def test_cli_set_and_show(app: Flask, runner: FlaskCliRunner) -> None:
    shown = runner.invoke(args=["sites", "show", "demo"])
    assert shown.exit_code == 0, shown.output
    assert "Commenting:      open" in shown.output
    assert "Rate per minute: 10000 (default)" in shown.output  # tests relax the limit
    assert "Blocked words:   -" in shown.output

    result = runner.invoke(
        args=[
            *("sites", "set", "demo"),
            *("--blocked-word", "Idiot", "--blocked-word", "dumme kuh"),
            *("--watched-word", "Lügenpresse"),
            *("--max-links", "0", "--rate-limit-per-minute", "5", "--rate-limit-per-hour", "0"),
            "--pause",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Commenting:      paused" in result.output
    assert "Max links:       off" not in result.output  # 0 links is a limit, shown as 0
    assert "Max links:       0" in result.output
    assert "Rate per minute: 5\n" in result.output
    assert "Rate per hour:   off" in result.output
    assert "Blocked words:   Idiot, dumme kuh" in result.output
    assert "Watched words:   Lügenpresse" in result.output
    with app.app_context():
        assert site(app).paused

    result = runner.invoke(
        args=[
            *("sites", "set", "demo", "--remove-blocked-word", "IDIOT"),
            *("--remove-watched-word", "lugenpresse", "--rate-limit-per-minute", "default"),
            "--resume",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Commenting:      open" in result.output
    assert "Blocked words:   dumme kuh" in result.output
    assert "Watched words:   -" in result.output
    assert "Rate per minute: 10000 (default)" in result.output
    assert "Max links:       0\n" in result.output  # untouched


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sites", "set", "nope", "--pause"], "no site 'nope'"),
        (["sites", "show", "nope"], "no site 'nope'"),
        (["sites", "set", "demo", "--max-links", "viele"], "whole number or 'default'"),
        (["sites", "set", "demo", "--max-links", "-1"], "from 0 to 1000"),
        (["sites", "set", "demo", "--rate-limit-per-hour", "1e9"], "whole number"),
        (["sites", "set", "demo", "--blocked-word", "id*ot"], "may only end"),
        (["sites", "set", "demo", "--blocked-word", "   "], ""),
        (["sites", "set", "demo", "--remove-blocked-word", "fehlt"], "not on the list"),
        (["sites", "set", "demo", "--pause", "--blocked-word", "!!"], "no letters"),
        (["sites", "set"], "Missing argument"),
    ],
)
def test_cli_set_refuses_bad_input(
    app: Flask, runner: FlaskCliRunner, args: list[str], message: str
) -> None:
    before = snapshot(app)
    result = runner.invoke(args=args)
    if args[-1] == "   ":  # a blank word is no word: nothing to add, nothing changes
        assert result.exit_code == 0
    else:
        assert result.exit_code != 0
        assert message in result.output
        assert "Traceback" not in result.output
    assert snapshot(app) == before


def test_the_report_hold_and_the_grounds_are_set_from_the_cli(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        args=[
            "sites",
            "set",
            "demo",
            "--report-hold-after",
            "3",
            "--removal-grounds",
            "off_topic, insult,werbung",
        ]  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert "Report hold:     after 3 reports" in result.output
    assert "Removal grounds: off_topic, insult, werbung" in result.output
    found = site(app)
    assert (found.report_hold_after, found.removal_grounds) == (
        3,
        ["off_topic", "insult", "werbung"],
    )
    result = runner.invoke(
        args=["sites", "set", "demo", "--report-hold-after", "off", "--removal-grounds", "default"]
    )
    assert result.exit_code == 0, result.output
    found = site(app)
    assert (found.report_hold_after, found.removal_grounds) == (None, None)


@pytest.mark.parametrize(
    "args",
    [
        ["--report-hold-after", "0"],
        ["--report-hold-after", "1001"],
        ["--report-hold-after", "drei"],
        ["--removal-grounds", "Off Topic"],
        ["--removal-grounds", ",".join(f"g{n}" for n in range(21))],
    ],
)
def test_bad_report_settings_are_refused_and_change_nothing(
    app: Flask, runner: FlaskCliRunner, args: list[str]
) -> None:
    before = snapshot(app)
    result = runner.invoke(args=["sites", "set", "demo", *args])
    assert result.exit_code == 1, result.output
    assert snapshot(app) == before


def test_a_sites_own_grounds_are_what_a_rejection_may_name(app: Flask) -> None:
    from moderation import grounds

    with app.app_context():
        sites.update_policy("demo", removal_grounds=["werbung"])
        found = sites.get_site("demo")
        assert grounds.check(found, "werbung") == "werbung"
        with pytest.raises(InvalidInput):
            grounds.check(found, "off_topic")
