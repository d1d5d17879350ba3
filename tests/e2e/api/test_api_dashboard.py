"""The dashboard in headless Chromium: live prices change and the candlestick chart draws.

Runs ``tickvault-api`` (Gunicorn) as a subprocess on a database holding the real BTCUSDT
and ETHUSDT recordings, publishes new latest prices the way the writer does, and drives
Debian's ``chromium`` with Playwright (never ``playwright install``).
"""

from __future__ import annotations

import shutil
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
from tests.support.api_server import load_recordings, running_api
from tests.support.polling import wait_until

from tickvault.codec import latest_message, latest_to_hash
from tickvault.db import migrate
from tickvault.keys import RedisKeys
from tickvault.symbols import Status, status_value
from tickvault.tick import Tick

CHROMIUM = "/usr/bin/chromium"
T0 = 1_723_161_600_000_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@contextmanager
def dashboard() -> Iterator[tuple[Any, list[str]]]:
    """Yield a page of headless Chromium and the list its script errors are added to."""
    from playwright.sync_api import sync_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page, errors
        finally:
            browser.close()


def publish_until_shown(
    publisher: redis.Redis, channel: str, tick: Tick, cell: Any, text: str
) -> None:
    """Announce *tick* as the writer does until the page's *cell* shows its price as *text*
    (the symbol's own precision)."""

    def shown() -> str | None:
        now: str | None = cell.text_content()
        if now != text:
            publisher.publish(channel, latest_message(tick))
        return now

    what = f"{tick.symbol}'s live price {text} on the page"
    wait_until(shown, 15, what, 0.2, until=lambda now: now == text)


@pytest.fixture
def api_server(
    new_database: Callable[[], str], redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[tuple[str, list[Tick]]]:
    url = new_database()
    last = load_recordings(url, redis_url, redis_prefix, [])
    settings = {
        "TICKVAULT_DATABASE_URL": url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": redis_prefix,
        "TICKVAULT_API_WORKERS": "2",
        "TICKVAULT_API_THREADS": "8",
        "TICKVAULT_API_STREAM_MAX_SECONDS": "60",
    }
    with running_api(tmp_path, settings) as base:
        yield base, last


def test_dashboard_shows_live_prices_and_draws_the_chart(
    api_server: tuple[str, list[Tick]], redis_url: str, redis_prefix: str
) -> None:
    base, latest = api_server
    btc = next(t for t in latest if t.symbol == "BTCUSDT")
    channel = RedisKeys(redis_prefix).latest_channel
    with dashboard() as (page, errors), closing(redis.Redis.from_url(redis_url)) as publisher:
        page.goto(base + "/")
        price_cell = page.locator("#prices tr[data-symbol=BTCUSDT] td.price")
        page.wait_for_function("document.querySelector('#chart')?.dataset.bars > 0", timeout=20_000)
        price_cell.wait_for(timeout=10_000)
        page.wait_for_function(
            "(p) => document.querySelector('#prices tr[data-symbol=BTCUSDT] td.price')"
            "?.textContent === p",
            arg=btc.price.rstrip("0"),  # the recording's prices have two decimals
            timeout=10_000,
        )
        # A new trade arrives: the writer publishes it; the page must show it.
        new_price = "61999.99000000"
        fresh = Tick(
            symbol="BTCUSDT",
            trade_id=btc.trade_id + 1,
            price=new_price,
            quantity="0.00100000",
            trade_time=btc.trade_time + 1000,
            event_time=btc.event_time + 1000,
            is_buyer_maker=False,
            received_at=btc.received_at + 1000,
        )
        publish_until_shown(publisher, channel, fresh, price_cell, "61999.99")
        assert page.locator("#prices tbody tr").count() == 2
        drawn = page.evaluate(
            """() => {
                let best = 0;
                for (const canvas of document.querySelectorAll('#chart canvas')) {
                    if (!canvas.width || !canvas.height) continue;
                    const ctx = canvas.getContext('2d');
                    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
                    let painted = 0;
                    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
                    best = Math.max(best, painted);
                }
                return best;
            }"""
        )
        assert drawn > 1000, f"the chart canvas is (nearly) empty: {drawn} painted pixels"
        page.fill("#range-form input[name=minute]", "2024-08-09T00:01")
        page.click("#range-form button")
        page.wait_for_function(
            "document.querySelector('#range-form .result').textContent.includes('high_time')",
            timeout=10_000,
        )
        assert not errors, errors


@pytest.fixture
def market_server(
    new_database: Callable[[], str], redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[str]:
    """The API with TICKVAULT_SYMBOLS=ALL and 2,000 symbols reported by the collector."""
    url = new_database()
    migrate.upgrade(url, create_database=False)
    keys = RedisKeys(redis_prefix)
    names = [f"S{i:04d}USDT" for i in range(2000)]
    client = redis.Redis.from_url(redis_url)
    pipe = client.pipeline(transaction=False)
    for i, name in enumerate(names):
        pipe.hset(keys.symbols, name, status_value(Status.TRADING, T0))
        tick = Tick(name, i + 1, f"{i + 1}.00000000", "1.00000000", T0, T0, False, T0)
        pipe.hset(keys.latest(name), mapping=latest_to_hash(tick))
    pipe.execute()
    client.close()
    settings = {
        "TICKVAULT_DATABASE_URL": url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": redis_prefix,
        "TICKVAULT_SYMBOLS": "ALL",
    }
    with running_api(tmp_path, settings) as base:
        yield base


def test_dashboard_finds_one_symbol_among_two_thousand_and_streams_only_the_watched(
    market_server: str, redis_url: str, redis_prefix: str
) -> None:
    base = market_server
    channel = RedisKeys(redis_prefix).latest_channel
    with dashboard() as (page, errors), closing(redis.Redis.from_url(redis_url)) as publisher:
        streams: list[str] = []
        page.on("request", lambda r: streams.append(r.url) if "/stream" in r.url else None)
        page.goto(base + "/")
        page.wait_for_function("document.querySelectorAll('#prices tbody tr').length === 12")
        assert page.locator("#tracked-count").text_content() == "2000 tracked"
        page.fill("#symbol-search", "s1234")
        page.wait_for_function("document.querySelectorAll('#search-results li').length > 0")
        assert page.locator("#search-results li").first.text_content() == "S1234USDT"
        page.press("#symbol-search", "Enter")
        row = page.locator("#prices tr[data-symbol=S1234USDT] td.price")
        row.wait_for(timeout=10_000)
        assert page.locator("#prices tbody tr").count() == 12  # the oldest was let go
        assert page.input_value("#range-form input[name=symbol]") == "S1234USDT"
        fresh = Tick("S1234USDT", 99_999, "77.70000000", "1.00000000", T0, T0, False, T0)
        publish_until_shown(publisher, channel, fresh, row, "77.70")
        assert streams and all("symbols=" in u for u in streams), streams
        assert "S1234USDT" in streams[-1] and streams[-1].count("%2C") == 11
        assert not errors, errors


def test_gunicorn_workers_share_metrics_and_stop_gracefully(
    api_server: tuple[str, list[Tick]],
) -> None:
    base, _ = api_server
    for _ in range(40):
        with urllib.request.urlopen(base + "/api/v1/symbols", timeout=5) as response:
            assert response.status == 200
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
        metrics = response.read().decode()
    line = 'tickvault_api_requests_total{route="/api/v1/symbols",status="200"} 40.0'
    assert line in metrics, metrics[:2000]


SUB_CENT = "这是测试币456"  # Binance testnet's UTF-8 name, priced below a cent (like ABIBTC)


@pytest.fixture
def sub_cent_server(
    new_database: Callable[[], str], redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[str]:
    """The API on both recordings plus an hour of a sub-cent UTF-8 symbol (0.000022xx)."""
    url = new_database()
    start = T0 - 3_600_000_000
    ticks = [
        Tick(SUB_CENT, i + 1, f"0.{2240 + i % 20:08d}", "1000.00", t, t, i % 2 == 0, t)
        for i, t in enumerate(range(start, T0, 20_000_000))
    ]
    ticks[-1] = msgspec.structs.replace(ticks[-1], price="0.00002246")
    load_recordings(url, redis_url, redis_prefix, ticks)
    settings = {
        "TICKVAULT_DATABASE_URL": url,
        "TICKVAULT_REDIS_URL": redis_url,
        "TICKVAULT_REDIS_PREFIX": redis_prefix,
        "TICKVAULT_SYMBOLS": f"BTCUSDT,ETHUSDT,{SUB_CENT}",
    }
    with running_api(tmp_path, settings) as base:
        yield base


def test_a_sub_cent_utf8_symbol_is_found_and_shown_with_its_own_precision(
    sub_cent_server: str, tmp_path: Path
) -> None:
    with dashboard() as (page, errors):
        failed: list[str] = []
        page.on(
            "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
        )
        page.goto(sub_cent_server + "/")
        page.wait_for_function("document.querySelector('#chart')?.dataset.bars > 0", timeout=20_000)
        page.fill("#symbol-search", "这是")  # a UTF-8 prefix; case plays no part
        page.wait_for_function("document.querySelectorAll('#search-results li').length > 0")
        assert page.locator("#search-results li").first.text_content() == SUB_CENT
        page.locator("#search-results li").first.dispatch_event("mousedown")
        page.wait_for_function(
            "(s) => document.getElementById('chart-symbol').textContent === s"
            " && document.querySelector('#chart').dataset.precision === '8'",
            arg=SUB_CENT,
            timeout=20_000,
        )
        page.wait_for_function("document.querySelector('#chart').dataset.bars >= 60")
        cell = page.locator(f"#prices tr[data-symbol='{SUB_CENT}'] td.price")
        cell.wait_for(timeout=10_000)
        page.wait_for_function(
            "(s) => document.querySelector(`#prices tr[data-symbol='${s}'] td.price`)"
            "?.textContent === '0.00002246'",
            arg=SUB_CENT,
            timeout=10_000,
        )
        btc = page.locator("#prices tr[data-symbol=BTCUSDT] td.price").text_content() or ""
        assert btc.count(".") == 1 and len(btc.split(".")[1]) == 2, btc  # its own precision
        # dataset.precision (8, checked above) is the price format the chart was given.
        page.screenshot(path=str(tmp_path / "sub-cent.png"))
        page.fill("#at-form input[name=time]", "2024-08-08T23:30:00Z")
        page.click("#at-form button")
        page.wait_for_function(
            "document.querySelector('#at-form .result').textContent.includes('0.000022')",
            timeout=10_000,
        )
        assert not failed, failed  # no missing resource (a favicon included)
        assert not errors, errors
