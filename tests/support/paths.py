"""Where the repository and the shared recordings live.

``../shared`` sits beside every checkout (and beside CI's clone); ``TICKVAULT_SHARED_DIR``
points elsewhere when it does not.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("TICKVAULT_SHARED_DIR", REPO_ROOT.parent / "shared"))
BINANCE_DATA = SHARED_DIR / "data" / "binance"

BTC_TRADES = BINANCE_DATA / "ws_spot_btcusdt_trade_only_20240808T2354Z-20240809T0005Z.txt.gz"
ETH_TRADES = BINANCE_DATA / "ws_spot_ethusdt_trade_only_20240808T2354Z-20240809T0005Z.txt.gz"
TRADE_RECORDINGS = (BTC_TRADES, ETH_TRADES)
FULL_EXCHANGE_INFO = BINANCE_DATA / "rest" / "exchangeInfo_full_20211012_cryptofeed.json.gz"
