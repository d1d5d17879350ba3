"""Per-symbol reference data: assets, tick and step sizes, typical prices; exchangeInfo shape."""

from __future__ import annotations

from dataclasses import dataclass, replace
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


# The busiest symbols of the real market, busiest first: tick, step and a typical price.
KNOWN = {
    "BTCUSDT": ("0.01000000", "0.00001000", "60000.00000000"),
    "ETHUSDT": ("0.01000000", "0.00010000", "2600.00000000"),
    "BNBUSDT": ("0.01000000", "0.00100000", "550.00000000"),
    "SOLUSDT": ("0.01000000", "0.00100000", "150.00000000"),
    "XRPUSDT": ("0.00010000", "1.00000000", "0.60000000"),
    "DOGEUSDT": ("0.00001000", "1.00000000", "0.12000000"),
    "ETHBTC": ("0.00001000", "0.00010000", "0.04300000"),
    "ADAUSDT": ("0.00010000", "0.10000000", "0.35000000"),
    "DOTUSDT": ("0.00100000", "0.01000000", "5.00000000"),
    "LTCUSDT": ("0.01000000", "0.00100000", "70.00000000"),
    "BNBBTC": ("0.00000100", "0.00100000", "0.00910000"),
    "LINKUSDT": ("0.00100000", "0.01000000", "11.00000000"),
}

# Names in UTF-8, as Binance lists them since 2025-12 (testnet's 这是测试币456, USDⓈ-M's
# 币安人生USDT, full-width digits): the replay lists them after the well-known ones.
UTF8_LISTED = {
    spec.symbol: spec
    for spec in (
        SymbolSpec("币安人生USDT", "币安人生", "USDT", "0.00010000", "1.00000000", "0.15000000"),
        SymbolSpec("这是测试币456", "这是测试币", "456", "0.00000001", "1.00000000", "0.00002246"),
        SymbolSpec(
            "１２３４５６USDT", "１２３４５６", "USDT", "0.00100000", "0.01000000", "3.20000000"
        ),
    )
}


def quote_of(symbol: str) -> tuple[str, str]:
    """Split *symbol* into base and quote asset (the longest known quote suffix; else USDT)."""
    upper = symbol.upper()
    for quote in QUOTES:
        if upper.endswith(quote) and len(upper) > len(quote):
            return symbol[: -len(quote)], symbol[-len(quote) :]
    return symbol, "USDT"


def spec_for(symbol: str, status: str = "TRADING") -> SymbolSpec:
    """Return the reference data of *symbol* (well-known values, else sensible defaults)."""
    if symbol in UTF8_LISTED:
        return replace(UTF8_LISTED[symbol], status=status)
    base, quote = quote_of(symbol)
    tick, step, price = KNOWN.get(symbol, ("0.01000000", "0.00100000", "100.00000000"))
    return SymbolSpec(symbol, base, quote, tick, step, price, status)


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
