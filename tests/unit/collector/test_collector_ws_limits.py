"""Connection policy and REST pacing: placing streams, subscription messages, budgets,
weights."""

from __future__ import annotations

import json
import random

import pytest

from tickvault.errors import FrameError
from tickvault.rest.parse import WeightGate, parse_error, parse_trades
from tickvault.tick import Source
from tickvault_collector.ws_limits import (
    MAX_MESSAGE_BYTES,
    ConnectBudget,
    combined_url,
    lifetime,
    place,
    subscription_messages,
    trade_stream,
)


def test_streams_fill_open_connections_before_new_ones_are_opened() -> None:
    wanted = [f"s{i}@trade" for i in range(450)]
    existing, new = place(wanted, [0, 30, 100], 200)
    assert [len(x) for x in existing] == [0, 30, 100]
    assert [len(x) for x in new] == [200, 120]
    assert [s for chunk in existing + new for s in chunk] == wanted
    assert place(wanted, [], 5000)[1] == [wanted]  # never above Binance's 1,024: 450 fit one
    assert [len(x) for x in place(wanted * 3, [], 5000)[1]] == [1024, 326]
    assert place(["a@trade"], [5], 200) == ([["a@trade"]], [])


def test_subscriptions_are_split_under_binances_message_size_with_rising_ids() -> None:
    streams = [trade_stream(f"SYMBOL{i}USDT") for i in range(1024)]
    messages = subscription_messages("SUBSCRIBE", streams, 7)
    assert [m[0] for m in messages] == list(range(7, 7 + len(messages)))
    assert len(messages) == 6  # ~20 bytes a name, 4,000 a message
    sent: list[str] = []
    for request_id, body, chunk in messages:
        assert len(body) <= MAX_MESSAGE_BYTES
        request = json.loads(body)
        assert request == {"method": "SUBSCRIBE", "params": chunk, "id": request_id}
        sent += chunk
    assert sent == streams
    assert subscription_messages("UNSUBSCRIBE", [], 1) == []


def test_stream_names_are_lower_case_trade_streams_on_the_bare_combined_endpoint() -> None:
    assert trade_stream("BTCUSDT") == "btcusdt@trade"
    assert trade_stream("币安人生USDT") == "币安人生usdt@trade"
    assert trade_stream("１２３４５６USDT") == "１２３４５６usdt@trade"
    assert combined_url("ws://h:1/") == "ws://h:1/stream?timeUnit=MICROSECOND"


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


def test_a_weight_gate_ceiling_keeps_part_of_the_budget_for_more_urgent_requests() -> None:
    gate = WeightGate(limit=6000, share=0.5)
    gate.spend(2000, 600.0)
    assert gate.delay(25, 601.0, 0.6) == pytest.approx(59.05)
    assert gate.delay(25, 601.0, 1.0) == 0


def test_error_bodies() -> None:
    assert parse_error(b'{"code":-1121,"msg":"Invalid symbol."}') == (-1121, "Invalid symbol.")
    assert parse_error(b"<html>") == (0, "<html>")
