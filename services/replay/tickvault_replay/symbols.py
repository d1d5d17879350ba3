"""Per-symbol reference data: assets, tick and step sizes, typical prices; exchangeInfo shape."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

# Every quote asset of Binance's spot list (2021 and today), longest first so that a suffix
# match finds ``BUSD`` before ``USD``-like shorter ones.
_QUOTE_NAMES = (
    "BTC USDT BUSD BNB ETH USDC PAX EUR TUSD TRY BRL BIDR AUD GBP RUB BKRW NGN UAH ZAR "
    "DAI IDRT USDS USDP XRP TRX BVND VAI GYEN FDUSD JPY MXN ARS PLN RON CZK COP"
)
QUOTES = tuple(sorted(_QUOTE_NAMES.split(" "), key=len, reverse=True))


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """What a symbol trades in steps of, written with Binance's 8 decimal places."""

    symbol: str
    base: str
    quote: str
    tick: str = "0.01000000"
    step: str = "0.00001000"
    price: str = "100.00000000"
    status: str = "TRADING"


# The symbols the replay lists before any drawn one, as ``BASE/QUOTE tick step price``: the
# busiest of the real market, busiest first, then names in UTF-8 as Binance lists them since
# 2025-12 (testnet's 这是测试币456, USDⓈ-M's 币安人生USDT, full-width digits).
_LISTED_TABLE = """
BTC/USDT 0.01 0.00001 60000
ETH/USDT 0.01 0.0001 2600
BNB/USDT 0.01 0.001 550
SOL/USDT 0.01 0.001 150
XRP/USDT 0.0001 1 0.6
DOGE/USDT 0.00001 1 0.12
ETH/BTC 0.00001 0.0001 0.043
ADA/USDT 0.0001 0.1 0.35
DOT/USDT 0.001 0.01 5
LTC/USDT 0.01 0.001 70
BNB/BTC 0.000001 0.001 0.0091
LINK/USDT 0.001 0.01 11
币安人生/USDT 0.0001 1 0.15
这是测试币/456 0.00000001 1 0.00002246
１２３４５６/USDT 0.001 0.01 3.2
"""


def _listed(table: str) -> dict[str, SymbolSpec]:
    specs: dict[str, SymbolSpec] = {}
    for row in table.split("\n"):
        if row:
            pair, *steps = row.split(" ")
            base, quote = pair.split("/")
            tick, step, price = (f"{Decimal(value):.8f}" for value in steps)
            specs[base + quote] = SymbolSpec(base + quote, base, quote, tick, step, price)
    return specs


LISTED = _listed(_LISTED_TABLE)
UTF8_LISTED = tuple(symbol for symbol in LISTED if not symbol.isascii())


def quote_of(symbol: str) -> tuple[str, str]:
    """Split *symbol* into base and quote asset (the longest known quote suffix; else USDT)."""
    upper = symbol.upper()
    for quote in QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return symbol[: -len(quote)], symbol[-len(quote) :]
    return symbol, "USDT"


def spec_for(symbol: str, status: str = "TRADING") -> SymbolSpec:
    """Return the reference data of *symbol* (well-known values, else sensible defaults)."""
    if symbol in LISTED:
        return replace(LISTED[symbol], status=status)
    base, quote = quote_of(symbol)
    return SymbolSpec(symbol, base, quote, step="0.00100000", status=status)


def symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    """Return the exchangeInfo entry of a symbol, ``PRICE_FILTER`` first as on Binance."""
    return {
        "symbol": spec.symbol,
        "status": spec.status,
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": spec.tick,
                "maxPrice": "1000000.00000000",
                "tickSize": spec.tick,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": spec.step,
                "maxQty": "9000.00000000",
                "stepSize": spec.step,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info(entries: list[dict[str, Any]], server_time_ms: int) -> dict[str, Any]:
    """Return an ``/api/v3/exchangeInfo`` body listing *entries* (see :func:`symbol_info`)."""
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ],
        "exchangeFilters": [],
        "symbols": entries,
    }
