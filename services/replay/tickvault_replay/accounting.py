"""What the REST side served, for tests and benchmarks: weight per IP per window (current,
peak, mean), answers by HTTP status, and requests and weight per endpoint.

The windows are the weight limit's (a calendar minute by default); the mean counts every
window from an IP's first request to now, quiet ones included, so it is the weight a minute
that IP used on average.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_KEEP_WINDOWS = 1440


@dataclass(slots=True)
class _IpUse:
    first: int
    used: dict[int, int] = field(default_factory=dict)  # window -> weight used in it
    total: int = 0


@dataclass(slots=True)
class _Endpoint:
    requests: int = 0
    weight: int = 0


class RestLedger:
    """Counts every REST answer; :meth:`report` is the ``GET /_replay/rest`` body."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self.reset()

    def reset(self) -> None:
        """Forget everything counted so far (the limit's own state is not touched)."""
        self._ips: dict[str, _IpUse] = {}
        self._statuses: dict[int, int] = {}
        self._limited: dict[int, int] = {}
        self._endpoints: dict[str, _Endpoint] = {}

    def record(
        self,
        ip: str,
        path: str,
        charged: int,
        used: int | None,
        status: int,
        now: float,
        limited: bool,
    ) -> None:
        """Count one answer: *charged* weight, the window's *used* total after it (None: the
        request was not weighed), its status, and whether the weight limit refused it."""
        if used is not None:
            window = int(now // self.window_s) if self.window_s else 0
            use = self._ips.get(ip)
            if use is None:
                use = self._ips[ip] = _IpUse(window)
            use.total += charged
            use.used[window] = used
            if len(use.used) > _KEEP_WINDOWS:
                del use.used[min(use.used)]
        self._statuses[status] = self._statuses.get(status, 0) + 1
        if limited:
            self._limited[status] = self._limited.get(status, 0) + 1
        endpoint = self._endpoints.setdefault(path, _Endpoint())
        endpoint.requests += 1
        endpoint.weight += charged

    def report(self, now: float) -> dict[str, Any]:
        """Return the weight, status and endpoint counts (see docs/REPLAY.md)."""
        window = int(now // self.window_s) if self.window_s else 0
        ips = {ip: self._ip_report(use, window) for ip, use in self._ips.items()}
        return {
            "limit": self.limit,
            "window_s": self.window_s,
            "weight": _summary(
                {w: sum(u.used.get(w, 0) for u in self._ips.values()) for w in _windows(self._ips)},
                sum(u.total for u in self._ips.values()),
                min((u.first for u in self._ips.values()), default=window),
                window,
            ),
            "ips": ips,
            "statuses": {str(k): v for k, v in sorted(self._statuses.items())},
            "rate_limited": {str(k): self._limited.get(k, 0) for k in (429, 418)},
            "endpoints": {
                path: {"requests": e.requests, "weight": e.weight}
                for path, e in sorted(self._endpoints.items())
            },
        }

    def _ip_report(self, use: _IpUse, window: int) -> dict[str, Any]:
        out = _summary(use.used, use.total, use.first, window)
        start = self.window_s
        out["minutes"] = [[int(w * start * 1000), used] for w, used in sorted(use.used.items())]
        return out


def _windows(ips: dict[str, _IpUse]) -> set[int]:
    return {w for use in ips.values() for w in use.used}


def _summary(used: dict[int, int], total: int, first: int, window: int) -> dict[str, Any]:
    elapsed = max(1, window - first + 1)
    return {
        "current": used.get(window, 0),
        "peak": max(used.values(), default=0),
        "mean": round(total / elapsed, 1),
        "windows": elapsed,
    }
