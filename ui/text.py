"""User-supplied text (patient ids, group labels, file names, link values) made safe for Streamlit markdown.

st.markdown, st.caption, st.info / warning / error / success, st.subheader, metric and expander labels
all render markdown. Streamlit escapes HTML there, but not markdown: a group label such as
`![x](http://evil.example/p.png)` would make every viewer's browser fetch a remote image, and
`[click](http://evil.example)` would show a link the data's author chose. Wrap such text in `plain()`.

Streamlit (1.67) has no escaping helper of its own, so this is ours: CommonMark lets any ASCII
punctuation be backslash-escaped and then shows it as the character itself, so escaping all of it
needs no list of which characters are special today (links, emphasis, $math$, :colour[text], ...).

One thing no escape stops: GFM's autolink pass runs on the parsed text, so a bare address such as
https://example.org or name@example.org in a value is still drawn as a link - whose visible text is
exactly that address, so nothing is hidden behind it (a link with other text, or an image, cannot
be made). tests/test_browser_hostile.py checks this in a browser.
"""

from __future__ import annotations

import re

_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character
_LINE_BREAK = re.compile(r"\r\n|[\r\n]")
# Unicode's bidirectional embeddings, overrides and isolates reorder the characters around them: a published
# cohort's label "\u202eevil\u202c" reads "live" to everyone opening its link. Right-to-left text needs none of
# them (its letters carry their direction), so they are shown as what they are.
# Characters that draw nothing at all (a zero-width space, a word joiner, a soft hyphen, ...): "P2\u200b" and "P2"
# would read as one patient. Shown by their codes too. (Joiners, U+200C and U+200D, are left alone: Persian,
# Indic scripts and emoji need them.)
_SHOWN_BY_CODE = re.compile("[\u202a-\u202e\u2066-\u2069\u00ad\u180e\u200b\u2060-\u2064\ufeff]")


def plain(value: object) -> str:
    """The value as markdown that shows exactly its text: punctuation escaped, line breaks as spaces.

    Line breaks become spaces because the text is shown inline: a new line would let it start a
    heading, a list or a code block. A bidirectional control character, or one that draws nothing, is shown as
    its code ([U+202E], [U+200B]).
    """
    text = _SHOWN_BY_CODE.sub(lambda m: f"[U+{ord(m.group()):04X}]", _LINE_BREAK.sub(" ", str(value)))
    return _PUNCTUATION.sub(r"\\\1", text)


def unplain(markdown: str) -> str:
    """The text a `plain()` string shows (its escapes removed), for comparing shown text with the source."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown))
