"""ui/text.py: user text as markdown that shows exactly that text."""

from __future__ import annotations

import pytest

from ui.text import plain, unplain


@pytest.mark.parametrize("text", ["![x](http://evil.example/p.png)", "[click](http://e.example)", "*a* _b_ $c$",
                                  "Arm A", "مجموعة 1", "P-001 <b>"])
def test_text_without_control_characters_shows_as_given(text):
    assert unplain(plain(text)) == text


def test_line_breaks_are_spaces():
    assert plain("a\r\nb\nc") == "a b c"


def test_bidirectional_controls_are_shown_by_their_codes_not_obeyed():
    # "\u202eevil\u202c" would be drawn as "live": the override is named instead, and right-to-left letters
    # themselves are left alone
    label = "مجموعة \u202eevil\u202c cohort"
    shown = unplain(plain(label))
    assert shown == "مجموعة [U+202E]evil[U+202C] cohort"
    assert unplain(plain("\u2066x\u2069")) == "[U+2066]x[U+2069]"


def test_characters_that_draw_nothing_are_shown_by_their_codes():
    # "P2\u200b" and "P2" are two patients: each heading and message shows which is which
    assert unplain(plain("P2\u200b")) == "P2[U+200B]"
    assert unplain(plain("\ufeffA\u2060B\u00adC")) == "[U+FEFF]A[U+2060]B[U+00AD]C"
    assert unplain(plain("می\u200cخواهم 👩\u200d💻")) == "می\u200cخواهم 👩\u200d💻"  # joiners are writing, kept
