"""User-controlled strings in reports: escaped on the way out, refused at the way in.

Run names, checkpoint folder names, metric and judge names come from the command line, the
file system and data files. Written raw into Markdown (``report.md``, the CI step summary) they
could add HTML (``<script>``, external images), fake headings (``## Gates PASSED``) or break a
table; control characters make ``junit.xml`` invalid XML. So:

- :func:`check_name` refuses control characters (and absurd lengths) at the boundary, where a
  name enters the toolkit (``--run-name``, checkpoint folders);
- :func:`md` escapes any string for Markdown text or a table cell (HTML entities for ``<>&``,
  a backslash before the Markdown punctuation that could start markup, line breaks flattened), and
  :func:`xml_text` drops the characters XML 1.0 cannot hold.
"""
from __future__ import annotations

import re
import unicodedata

from .errors import ConfigError

# what can start emphasis, code, a link, an image, a table cell or a heading (names never start
# a line, and line breaks are flattened, so list markers and "#" headings cannot begin)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()!|~#])")
# XML 1.0 allows tab, LF, CR and everything from U+0020 except surrogates and U+FFFE/U+FFFF
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
MAX_NAME = 200


def has_control(text: str) -> bool:
    """Control (Cc), format (Cf: bidi overrides, zero-width) or surrogate characters."""
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in text)


def check_name(name: str, what: str = "name") -> str:
    """A name a user chose (run, checkpoint): printable, one line, at most 200 characters."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{what}: expected a non-empty name, found {name!r}")
    if has_control(name):
        raise ConfigError(f"{what}: {ascii(name)[:120]} contains control or invisible "
                          "characters; use printable characters only")
    if len(name) > MAX_NAME:
        raise ConfigError(f"{what}: longer than {MAX_NAME} characters ({len(name)})")
    return name


def md(value) -> str:
    """Any value as inert Markdown text (safe in a paragraph and in a table cell)."""
    text = str(value)
    text = "".join("\ufffd" if unicodedata.category(ch) in ("Cc", "Cs") else ch
                   for ch in text.replace("\r\n", " ").replace("\n", " ").replace("\r", " "))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def xml_text(value) -> str:
    """Text XML 1.0 can hold (ElementTree escapes <>&\" itself but not control characters)."""
    return _XML_BAD.sub("\ufffd", str(value))
