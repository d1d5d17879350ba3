"""Per-symbol reference data: assets, tick and step sizes, typical prices; exchangeInfo shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_QUOTES = ("USDT", "FDUSD", "USDC", "BUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


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


_KNOWN = {
    "BTCUSDT": ("0.01000000", "0.00001000", "60000.00000000"),
    "ETHUSDT": ("0.01000000", "0.00010000", "2600.00000000"),
    "BNBUSDT": ("0.01000000", "0.00100000", "550.00000000"),
    "SOLUSDT": ("0.01000000", "0.00100000", "150.00000000"),
    "DOTUSDT": ("0.00100000", "0.01000000", "5.00000000"),
    "XRPUSDT": ("0.00010000", "1.00000000", "0.60000000"),
    "DOGEUSDT": ("0.00001000", "1.00000000", "0.12000000"),
}


def spec_for(symbol: str) -> SymbolSpec:
    """Return the reference data of *symbol* (well-known values, else sensible defaults)."""
    symbol = symbol.upper()
    quote = next((q for q in _QUOTES if symbol.endswith(q) and len(symbol) > len(q)), "USDT")
    base = symbol[: -len(quote)] if symbol.endswith(quote) else symbol
    tick, step, price = _KNOWN.get(symbol, ("0.01000000", "0.00100000", "100.00000000"))
    return SymbolSpec(symbol, base, quote, tick, step, price)


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


def exchange_info(specs: list[SymbolSpec], server_time_ms: int) -> dict[str, Any]:
    """Return an ``/api/v3/exchangeInfo`` body for *specs*."""
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
        "symbols": [symbol_info(s) for s in specs],
    }
