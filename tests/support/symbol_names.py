"""Hypothesis strategies of symbol names Binance's rules allow (UTF-8 included)."""

from __future__ import annotations

from hypothesis import strategies as st

from tickvault.symbols import MAX_NAME_CHARS, is_name

ASCII_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
# Visible non-ASCII characters: letters, marks, numbers, punctuation and symbols of any script.
VISIBLE = st.characters(categories=["L", "M", "N", "P", "S"], min_codepoint=0x80)
NAME_CHAR = st.one_of(st.sampled_from(ASCII_NAME_CHARS), VISIBLE)


def symbol_names(max_size: int = MAX_NAME_CHARS) -> st.SearchStrategy[str]:
    """Names of 1 to *max_size* allowed characters (a few non-ASCII ones that Unicode files as
    visible but that render nothing, such as U+3164, are not names and are left out)."""
    return st.text(NAME_CHAR, min_size=1, max_size=max_size).filter(is_name)


def utf8_symbol_names(max_size: int = 20) -> st.SearchStrategy[str]:
    """Names holding at least one non-ASCII character."""
    return symbol_names(max_size).filter(lambda s: not s.isascii())
