"""TICKVAULT_SYMBOLS as names, ALL and patterns, and the symbols-hash values."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickvault.config import Settings
from tickvault.symbols import (
    Selection,
    Status,
    canonical,
    parse_status_value,
    reported,
    status_value,
    stream_symbol,
    unusable,
)

pytestmark = pytest.mark.unit

UNIVERSE = {
    "BTCUSDT": "TRADING",
    "ETHUSDT": "TRADING",
    "ETHBTC": "TRADING",
    "BNBUSDT": "BREAK",
    "DOGEUSDT": "HALT",
    "btcusdt": "TRADING",
    "这是测试币456": "TRADING",
    "NEWCOIN": "SOMETHING_NEW",
}


def test_explicit_names_are_tracked_whatever_their_status() -> None:
    chosen = Selection.parse(["btcusdt", "BNBUSDT", "TYPOUSDT"]).choose(UNIVERSE)
    assert chosen == {
        "BTCUSDT": Status.TRADING,
        "BNBUSDT": Status.BREAK,
        "TYPOUSDT": Status.UNLISTED,
    }


def test_all_takes_every_trading_symbol_tickvault_can_store() -> None:
    chosen = Selection.parse(["ALL"]).choose(UNIVERSE)
    assert chosen == dict.fromkeys(
        ("BTCUSDT", "ETHUSDT", "ETHBTC", "这是测试币456"), Status.TRADING
    )


def test_patterns_and_names_mix() -> None:
    selection = Selection.parse(["*usdt", "ETHBTC", "*USDT", "nothing*"])
    assert selection.terms() == ("*USDT", "NOTHING*", "ETHBTC")
    assert selection.choose(UNIVERSE) == {
        "ETHBTC": Status.TRADING,
        "BTCUSDT": Status.TRADING,
        "ETHUSDT": Status.TRADING,
    }


def test_an_undocumented_status_of_a_named_symbol_counts_as_halted() -> None:
    assert Selection.parse(["NEWCOIN"]).choose(UNIVERSE) == {"NEWCOIN": Status.HALT}


@pytest.mark.parametrize(
    "bad", ["BTC/USDT", "**/..", " , ", "", "A" * 51, "BTC USDT", "BTC\u200bUSDT"]
)
def test_bad_terms_are_refused_with_the_term_named(bad: str) -> None:
    with pytest.raises(ValueError, match=r"symbol|must name"):
        Selection.parse(bad.split(","))


def test_settings_hold_the_canonical_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKVAULT_SYMBOLS", "all, *usdt ,btcusdt,BTCUSDT")
    settings = Settings()
    assert settings.symbols == ("ALL", "*USDT", "BTCUSDT")
    assert settings.selection == Selection(("BTCUSDT",), ("*USDT",), all=True)


def test_unusable_names_are_reported() -> None:
    assert unusable(UNIVERSE) == {"btcusdt": "holds a lower-case ASCII letter"}
    assert unusable(["A" * 51, "", "币\u3000安"]) == {
        "A" * 51: "longer than 50 characters",
        "": "empty name",
        "币\u3000安": "holds the character U+3000, not allowed in a symbol name",
    }


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("btcusdt", "BTCUSDT"),
        (" BtcUsdt ", "BTCUSDT"),
        ("这是测试币456", "这是测试币456"),
        ("币安人生usdt", "币安人生USDT"),
        ("ÄbcUSDT", "ÄBCUSDT"),
        ("äbcusdt", "äBCUSDT"),
    ],
)
def test_ascii_letters_are_case_insensitive_and_the_rest_kept_as_listed(
    typed: str, stored: str
) -> None:
    assert canonical(typed) == stored
    assert Selection.parse([typed]).names == (stored,)


def test_utf8_names_and_patterns_select_as_listed() -> None:
    universe = {"币安人生USDT": "TRADING", "１２３４５６USDT": "TRADING", "BTCUSDT": "TRADING"}
    assert set(Selection.parse(["币安*"]).choose(universe)) == {"币安人生USDT"}
    assert set(Selection.parse(["*usdt"]).choose(universe)) == set(universe)
    assert stream_symbol("１２３４５６USDT") == "１２３４５６usdt"


def test_status_values_round_trip_and_junk_is_none() -> None:
    assert parse_status_value(status_value(Status.HALT, 17)) == (Status.HALT, 17)
    junk_values = (b"", b"{}", b'{"status": "NOPE", "since_us": 1}', b"[1]", b'{"status": 1}')
    for junk in (*junk_values, b"[" * 100_000):
        assert parse_status_value(junk) is None


def test_what_a_selection_tracks_comes_from_the_symbols_hash_names_first() -> None:
    fields = {
        b"ETHUSDT": status_value(Status.TRADING, 5),
        b"BNBBTC": status_value(Status.TRADING, 5),
        b"ADAUSDT": status_value(Status.HALT, 9),
        b"BTCUSDT": b"not json",
        b"\xff\xfe": status_value(Status.TRADING, 1),
    }
    assert reported(Selection.parse(["ZZZUSDT", "*USDT"]), fields) == {
        "ZZZUSDT": None,
        "ADAUSDT": (Status.HALT, 9),
        "BTCUSDT": None,
        "ETHUSDT": (Status.TRADING, 5),
    }
    assert list(reported(Selection.parse(["BNBBTC", "ETHUSDT"]), fields)) == ["BNBBTC", "ETHUSDT"]


def test_utf8_names_are_read_from_the_environment_and_a_dotenv_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes("TICKVAULT_SYMBOLS=btcusdt,这是测试币456,币安*\n".encode())
    monkeypatch.delenv("TICKVAULT_SYMBOLS", raising=False)
    assert Settings().symbols == ("币安*", "BTCUSDT", "这是测试币456")
    monkeypatch.setenv("TICKVAULT_SYMBOLS", "１２３４５６usdt")
    assert Settings().symbols == ("１２３４５６USDT",)
