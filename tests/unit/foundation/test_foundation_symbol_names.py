"""Every name Binance's rules allow, UTF-8 included, through tickvault's pure layers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.support.symbol_names import symbol_names, utf8_symbol_names

from tickvault.codec import (
    GapFinder,
    GapRecord,
    GapStatus,
    from_fields,
    latest_from_message,
    latest_message,
    to_fields,
)
from tickvault.errors import InvalidTick
from tickvault.keys import RedisKeys, shard_of
from tickvault.symbols import Selection, canonical, is_name, stream_symbol, why_not_name
from tickvault.tick import Tick
from tickvault_writer.binary import copy_binary

pytestmark = pytest.mark.unit

T = 1_723_161_600_000_000


@given(symbol_names())
def test_a_name_survives_every_encoding_it_passes_through(name: str) -> None:
    tick = Tick(name, 7, "0.00002246", "12.5", T, T, True, T)
    assert from_fields(to_fields(tick)) == tick
    gap = GapRecord(name, 1, 9, GapStatus.DETECTED, T, None, GapFinder.COLLECTOR)
    assert from_fields(to_fields(gap)) == gap
    latest = latest_from_message(latest_message(tick))
    assert latest is not None and latest.symbol == name
    raw = name.encode()
    assert len(raw).to_bytes(4, "big") + raw in copy_binary([tick])
    assert RedisKeys("p").latest(name).endswith(name)
    assert 0 <= shard_of(name, 3) < 3


@given(symbol_names())
def test_a_name_typed_in_any_ascii_case_or_as_a_stream_name_is_the_listed_one(name: str) -> None:
    lowered = stream_symbol(name)
    assert lowered == "".join(c.lower() if c.isascii() else c for c in name)
    assert canonical(lowered) == canonical(f"  {name} ") == name
    assert Selection.parse([lowered]).names == (name,)
    assert why_not_name(name) is None


@given(utf8_symbol_names(), st.sampled_from(["", " ", "\u200b", "\x00", "|", ",", "a", "\ue000"]))
def test_a_name_with_a_character_outside_the_rule_is_refused_with_its_reason(
    name: str, bad: str
) -> None:
    spoiled = name + bad
    assert not is_name(spoiled) or bad == ""
    if bad:
        reason = why_not_name(spoiled)
        assert reason is not None and (f"U+{ord(bad):04X}" in reason or "lower-case" in reason)
        with pytest.raises(InvalidTick, match="symbol"):
            Tick(spoiled, 1, "1", "1", T, T, False, T)
