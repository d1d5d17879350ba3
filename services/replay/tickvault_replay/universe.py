"""The whole-market universe: N symbols modelled on Binance's real spot list (pure, seeded).

The proportions come from a full Binance ``exchangeInfo`` of 2021-10-12 (``../shared/data/
binance/rest/exchangeInfo_full_20211012_cryptofeed.json.gz``: 1,695 spot symbols on 445 base
assets, 1,262 ``TRADING`` and 433 ``BREAK``): how many quote assets a base asset is listed
against, which quote assets (BTC, USDT, BUSD, BNB, ETH, …), how long base-asset names are, and
the share of symbols in ``BREAK``. :func:`synthetic_universe` draws a universe with those
proportions; :func:`universe_from_file` takes names, assets, statuses and filters from a real
``exchangeInfo`` instead. Trade rates follow rank (:func:`zipf_rates`): a few symbols print
hundreds of trades a second, most fewer than one a minute.
"""

from __future__ import annotations

import gzip
import math
import random
from pathlib import Path
from typing import Any

import msgspec

from tickvault.errors import ConfigError
from tickvault_replay.decimals import format_units, to_units
from tickvault_replay.listings import Status
from tickvault_replay.symbols import LISTED, SymbolSpec

# quote asset -> how many of the 1,695 real symbols quote in it
QUOTE_COUNTS = {
    "BTC": 357, "USDT": 342, "BUSD": 266, "BNB": 234, "ETH": 171, "USDC": 39, "PAX": 34,
    "EUR": 34, "TUSD": 32, "TRY": 28, "BRL": 25, "BIDR": 22, "AUD": 19, "GBP": 18, "RUB": 17,
    "BKRW": 11, "NGN": 10, "UAH": 6, "ZAR": 5, "DAI": 5, "IDRT": 4, "USDS": 3, "USDP": 3,
    "XRP": 2, "TRX": 2, "BVND": 2, "VAI": 2, "GYEN": 2,
}  # fmt: skip
# a quote asset's value in US dollars, to put synthetic prices in a plausible range
QUOTE_USD = {
    "BTC": 60000.0, "ETH": 2600.0, "BNB": 550.0, "EUR": 1.1, "GBP": 1.3, "AUD": 0.66,
    "TRY": 0.03, "BRL": 0.18, "RUB": 0.011, "BIDR": 0.000063, "IDRT": 0.000063,
    "BKRW": 0.00075, "NGN": 0.00065, "UAH": 0.024, "ZAR": 0.055, "XRP": 0.6, "TRX": 0.12,
    "BVND": 0.00004, "GYEN": 0.0067,
}  # fmt: skip
# how many quote assets a base asset is listed against -> how many of the 445 real bases
_QUOTES_PER_BASE = {1: 49, 2: 84, 3: 101, 4: 120, 5: 38, 6: 12, 7: 8, 8: 12, 9: 3, 10: 1}
# base-asset name length -> how many of the 1,695 real symbols
_BASE_LENGTHS = {2: 33, 3: 947, 4: 512, 5: 140, 6: 23, 7: 36, 8: 2, 9: 2}
BREAK_SHARE = 433 / 1695
_VOWELS = "AEIOUY"
_CONSONANTS = "BCDFGHJKLMNPRSTVWXZ"
_PLACES = 8


class UniverseError(ConfigError, ValueError):
    """A universe file (``--universe``) that is not a usable ``exchangeInfo``."""


def zipf_rates(count: int, top_rate: float, exponent: float) -> list[float]:
    """Return the mean trades per second of ranks 1..count: ``top_rate / rank**exponent``."""
    return [top_rate / (rank**exponent) for rank in range(1, count + 1)]


def priced_spec(symbol: str, base: str, quote: str, usd: float, status: str) -> SymbolSpec:
    """Return a spec whose price is worth about *usd*, on a tick of ~5 significant digits."""
    price = max(usd / QUOTE_USD.get(quote, 1.0), 1e-6)
    magnitude = math.floor(math.log10(price))
    tick_exp = min(0, max(-_PLACES, magnitude - 4))
    step_exp = min(0, max(-_PLACES, math.floor(math.log10(1.0 / usd)) if usd > 0 else 0))
    tick = 10 ** (_PLACES + tick_exp)
    price_units = max(100 * tick, int(price * 10**_PLACES) // tick * tick)
    return SymbolSpec(
        symbol,
        base,
        quote,
        format_units(tick, _PLACES),
        format_units(10 ** (_PLACES + step_exp), _PLACES),
        format_units(price_units, _PLACES),
        status,
    )


def _weighted(rng: random.Random, table: dict[Any, int]) -> Any:
    return rng.choices(list(table), weights=list(table.values()))[0]


def _base_name(rng: random.Random, taken: set[str]) -> str:
    """Draw an unused ticker that reads like one (consonants and vowels mostly alternate)."""
    while True:
        length = _weighted(rng, _BASE_LENGTHS)
        vowel = rng.random() < 0.3
        letters = []
        for _ in range(length):
            letters.append(rng.choice(_VOWELS if vowel else _CONSONANTS))
            vowel = not vowel if rng.random() < 0.85 else vowel
        name = "".join(letters)
        if name not in taken and name not in QUOTE_COUNTS:
            taken.add(name)
            return name


def synthetic_universe(count: int, seed: int) -> list[SymbolSpec]:
    """Return *count* symbols in listing order: the well-known ones first, the UTF-8 names
    Binance may list next, then drawn ones."""
    rng = random.Random(f"universe:{seed}")
    specs = list(LISTED.values())[:count]
    names = {s.symbol for s in specs}
    bases = {s.base for s in specs}
    while len(specs) < count:
        base = _base_name(rng, bases)
        usd = math.exp(rng.gauss(0.0, 2.5))
        wanted = _weighted(rng, _QUOTES_PER_BASE)
        quotes: list[str] = []
        while len(quotes) < wanted:
            quote = _weighted(rng, QUOTE_COUNTS)
            if quote not in quotes:
                quotes.append(quote)
        for quote in quotes:
            symbol = base + quote
            if len(specs) == count or symbol in names:
                continue
            status = "BREAK" if rng.random() < BREAK_SHARE else "TRADING"
            names.add(symbol)
            specs.append(priced_spec(symbol, base, quote, usd, status))
    return specs


def _filter_value(entry: dict[str, Any], kind: str, key: str) -> str | None:
    for item in entry.get("filters", []):
        if isinstance(item, dict) and item.get("filterType") == kind:
            value = item.get(key)
            return value if isinstance(value, str) else None
    return None


def universe_from_file(path: Path, count: int, seed: int) -> list[SymbolSpec]:
    """Return the first *count* symbols of a real ``exchangeInfo`` (0 = all), priced by seed."""
    raw = path.read_bytes()
    try:
        body = msgspec.json.decode(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (msgspec.DecodeError, RecursionError, OSError, EOFError) as exc:
        raise UniverseError(f"{path}: not an exchangeInfo JSON body: {exc}") from exc
    entries = body.get("symbols") if isinstance(body, dict) else None
    if not isinstance(entries, list) or not entries:
        raise UniverseError(f"{path}: no 'symbols' list in this exchangeInfo")
    rng = random.Random(f"universe:{seed}")
    usd_of: dict[str, float] = {}
    specs = []
    for number, entry in enumerate(entries[: count or None]):
        try:
            specs.append(_file_spec(entry, usd_of, rng))
        except (KeyError, TypeError, ValueError) as exc:  # UniverseError is a ValueError too
            raise UniverseError(f"{path}: symbol #{number} is malformed: {exc!r}") from exc
    return specs


def _file_spec(entry: Any, usd_of: dict[str, float], rng: random.Random) -> SymbolSpec:
    symbol, base, quote = str(entry["symbol"]), str(entry["baseAsset"]), str(entry["quoteAsset"])
    status = str(entry.get("status", "TRADING"))
    if status not in Status.__members__:
        raise UniverseError(f"unknown status {status!r}")
    usd = usd_of.setdefault(base, math.exp(rng.gauss(0.0, 2.5)))
    spec = priced_spec(symbol, base, quote, usd, status)
    tick = _filter_value(entry, "PRICE_FILTER", "tickSize")
    step = _filter_value(entry, "LOT_SIZE", "stepSize")
    if not tick or not step or to_units(tick, _PLACES) <= 0 or to_units(step, _PLACES) <= 0:
        return spec
    units = to_units(tick, _PLACES)
    price = max(100 * units, to_units(spec.price, _PLACES) // units * units)
    return SymbolSpec(
        symbol,
        base,
        quote,
        format_units(units, _PLACES),
        format_units(to_units(step, _PLACES), _PLACES),
        format_units(price, _PLACES),
        spec.status,
    )
