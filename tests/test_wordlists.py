"""Folding and matching of blocked and watched words, and validating the lists."""

from __future__ import annotations

import pytest
from helpers import least_cpu_seconds

from moderation import wordlists
from moderation.errors import InvalidInput
from moderation.wordlists import clean_entries, edit, find, fold, parse_lines


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("IDIOT", "idiot"),
        ("Ídíòt", "idiot"),
        ("iiiidiooot", "idiot"),
        ("i\u200bd\u200ci\u200do\u2060t\ufeff", "idiot"),
        ("idi\u00adot", "idiot"),
        ("Ｉｄｉｏｔ", "idiot"),
        ("Straße", "strase"),
        ("Lügenpresse", "lugenprese"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("entries", "text", "found"),
    [
        (["idiot"], "So ein Idiot!", ["idiot"]),
        (["idiot"], "Idiotie", []),
        (["idiot"], "Patriot-Idiot", ["idiot"]),
        (["idiot*"], "Ihr Idioten", ["idiot*"]),
        (["idiot*"], "Patrioten", []),
        (["dumme kuh"], "Du dumme,   Kuh", ["dumme kuh"]),
        (["dumme kuh"], "dumme Kühe", []),
        (["rat"], "Ratgeber", []),
        (["a", "b"], "b und a", ["a", "b"]),
        (["Spaß"], "SPASS", ["Spaß"]),
    ],
)
def test_find(entries: list[str], text: str, found: list[str]) -> None:
    assert find(entries, text) == found


def test_find_looks_at_every_text_but_not_across_them() -> None:
    assert find(["troll"], "Der Troll", "ein Text") == ["troll"]
    assert find(["dumme kuh"], "dumme", "kuh") == []


def test_clean_entries_trims_and_drops_duplicates() -> None:
    assert clean_entries(["  Idiot ", "", "IDIOT", "ídiot", "idiot*", "dumme   kuh"]) == [
        "Idiot",
        "idiot*",
        "dumme kuh",
    ]


@pytest.mark.parametrize(
    "entries",
    [
        ["x" * 101],
        ["id*ot"],
        ["idiot**"],
        ["***"],
        ["!!!"],
        [42],
        ["".join(f"{d}x" for d in str(n)) for n in range(501)],
    ],
)
def test_clean_entries_refuses_bad_lists(entries: list) -> None:
    with pytest.raises(InvalidInput):
        clean_entries(entries)


def test_edit_adds_and_removes_ignoring_case_and_accents() -> None:
    assert edit(["Idiot", "Troll"], add=["Depp"], remove=["idíot"]) == ["Troll", "Depp"]
    with pytest.raises(InvalidInput, match="not on the list"):
        edit(["Troll"], remove=["Depp"])


def test_parse_lines() -> None:
    assert parse_lines("idiot\ndumme kuh, troll\n\n") == ["idiot", "dumme kuh", " troll", ""]


# --- cost: phrases are looked up, never searched for along the comment -----------------------

PHRASES = [f"du bist ein wort{i}" for i in range(250)] + [
    "du " + " ".join(f"x{i}y{j}" for j in range(15)) for i in range(250)
]
PROSE = (
    "Die Zahlen sind nachvollziehbar, aber die Schlussfolgerung greift zu kurz. Wer im Winter "
    "mit dem Zug fährt, weiß, wie oft es Verspätungen gibt. "
)


def _seconds(text: str) -> float:
    """The CPU time of searching the full list of phrases in ``text``."""
    return least_cpu_seconds(lambda: wordlists.find(PHRASES, "Anna", text))


def _repeat(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


@pytest.mark.parametrize("unit", ["du ", "du bist ", "du bist ein ", "du x0y0 x0y1 "])
def test_a_comment_of_a_phrase_start_costs_what_prose_does(unit: str) -> None:
    """Before, each phrase was compared at every position of the comment: "du " * 1666 against
    500 phrases starting with "du" cost 100 ms, 40-word phrases 0.5 s."""
    dense, prose = _repeat(unit, 5000), _repeat(PROSE, 5000)
    assert any(_seconds(dense) < 5 * _seconds(prose) for _ in range(3))
    assert any(_seconds(_repeat(unit, 8000)) < 6 * _seconds(_repeat(unit, 2000)) for _ in range(3))
