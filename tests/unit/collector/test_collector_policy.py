"""Connection policy and REST pacing: sharding, URLs, budgets, weights."""

from __future__ import annotations

import random

import pytest

from tickvault.errors import FrameError
from tickvault.tick import Source
from tickvault_collector.policy import ConnectBudget, lifetime, shard, stream_url
from tickvault_collector.restparse import WeightGate, parse_error, parse_exchange_info, parse_trades


def test_symbols_are_sharded_under_the_per_connection_cap() -> None:
    symbols = [f"S{i}" for i in range(450)]
    groups = shard(symbols, 200)
    assert [len(g) for g in groups] == [200, 200, 50]
    assert [len(g) for g in shard(symbols, 5000)] == [450]
    assert sum(groups, ()) == tuple(symbols)


def test_stream_url_lowercases_and_asks_for_microseconds() -> None:
    assert stream_url("ws://h:1/", ["BTCUSDT", "ETHUSDT"]) == (
        "ws://h:1/stream?streams=btcusdt@trade/ethusdt@trade&timeUnit=MICROSECOND"
    )


def test_connect_budget_waits_for_the_window() -> None:
    budget = ConnectBudget(3, 300)
    for t in (0.0, 1.0, 2.0):
        assert budget.wait(t) == 0
        budget.spend(t)
    assert budget.wait(10.0) == 290.0
    assert budget.wait(300.5) == 0


def test_lifetime_is_jittered_below_the_base() -> None:
    rng = random.Random(3)
    values = [lifetime(82800, 600, rng) for _ in range(50)]
    assert all(82200 <= v <= 82800 for v in values)
    assert len(set(values)) > 1


def test_weight_gate_waits_for_the_next_minute_once_the_share_is_spent() -> None:
    gate = WeightGate(limit=6000, share=0.5)
    now = 600.0  # the start of a minute
    assert gate.delay(25, now) == 0
    gate.spend(25, now)
    gate.observe("2990", now + 1)
    assert gate.delay(25, now + 1) == pytest.approx(59.05)
    assert gate.delay(25, now + 60) == 0  # a new minute
    gate.observe("10", now + 2)
    assert gate.delay(25, now + 2) == 0


def test_rest_trade_pages_become_backfill_ticks() -> None:
    body = (
        b'[{"id":1111471896,"price":"61000.01000000","qty":"0.00100000","quoteQty":"61.0",'
        b'"time":1634944148263,"isBuyerMaker":true,"isBestMatch":true}]'
    )
    [tick] = parse_trades("BTCUSDT", body, 42)
    assert (
        tick.trade_id,
        tick.price,
        tick.quantity,
        tick.trade_time,
        tick.event_time,
        tick.is_buyer_maker,
        tick.received_at,
        tick.source,
    ) == (
        1111471896,
        "61000.01000000",
        "0.00100000",
        1634944148263000,
        1634944148263000,
        True,
        42,
        Source.BACKFILL,
    )
    for bad in (
        b"{",
        b'[{"id":1}]',
        b'[{"id":1,"price":"x","qty":"1","time":1634944148263,"isBuyerMaker":true}]',
    ):
        with pytest.raises(FrameError):
            parse_trades("BTCUSDT", bad, 0)


def test_exchange_info_and_error_bodies() -> None:
    body = b'{"symbols":[{"symbol":"BTCUSDT","status":"TRADING"},{"symbol":"X","status":"BREAK"}]}'
    assert parse_exchange_info(body) == {"BTCUSDT": "TRADING", "X": "BREAK"}
    assert parse_error(b'{"code":-1121,"msg":"Invalid symbol."}') == (-1121, "Invalid symbol.")
    assert parse_error(b"<html>") == (0, "<html>")
