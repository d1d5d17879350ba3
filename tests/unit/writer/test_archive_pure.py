"""The import's pure parts: CSV rows, the files of a range, id continuity, the bounds search,
the shared page loop at the import's priority."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest

from tickvault.codec import GapReason
from tickvault.errors import ExchangeError
from tickvault.rest.book import Gap, GapBook
from tickvault.rest.pages import PageFetcher
from tickvault.rest.schedule import Priority
from tickvault.tick import Source, Tick
from tickvault_writer.archive.bounds import RestTrades
from tickvault_writer.archive.cold_days import cold_before, day_start_us
from tickvault_writer.archive.continuity import Continuity
from tickvault_writer.archive.periods import days_of, plan
from tickvault_writer.archive.rows import FileReader

# Real rows: binance-public-data #386 (2025, µs) and #28 (before, ms), as the archive has them.
MICROS_ROW = "3779209551,93590.01000000,0.00010000,9.35900100,1735689600010866,False,True"
T0 = 1_300_000_000_000_000
MILLIS_ROW = "266303498,7965.12000000,0.00500000,39.82560000,1583709433583,True,True"


def test_rows_keep_microseconds_and_read_milliseconds_per_file() -> None:
    (tick,) = FileReader("BTCUSDT", 7).ticks([MICROS_ROW])
    assert tick == Tick(
        "BTCUSDT",
        3779209551,
        "93590.01000000",
        "0.00010000",
        1735689600010866,
        1735689600010866,
        False,
        7,
        Source.ARCHIVE,
    )
    (old,) = FileReader("BTCUSDT", 7).ticks([MILLIS_ROW])
    assert old.trade_time == 1583709433583000 and old.is_buyer_maker is True


def test_a_header_row_is_recognised_and_bad_rows_are_refused_and_counted() -> None:
    reader = FileReader("BTCUSDT", 0)
    lines = [
        "id,price,qty,quote_qty,time,is_buyer_maker,is_best_match",
        MICROS_ROW,
        "3779209552,93590.01000000,-1,9.3,1735689600010900,False,True",  # negative quantity
        "3779209553,93590.01000000,0.1,9.3,1735689600011,False,True",  # ms in a µs file
        "3779209554,93590.01000000,0.1,9.3,1735689600012000,maybe,True",
        "3779209555,93590.01000000,0.1",
    ]
    ticks = list(reader.ticks(lines))
    assert [t.trade_id for t in ticks] == [3779209551]
    assert reader.header and reader.micros is True and reader.refused == 4
    assert reader.first_refusal.startswith("line 3")


def test_whole_past_months_are_monthly_files_and_the_rest_daily() -> None:
    files = plan("BTCUSDT", date(2024, 11, 15), date(2025, 1, 2), today=date(2025, 1, 3))
    assert [f.period for f in files][:2] == ["2024-11-15", "2024-11-16"]
    assert [f.period for f in files][16:] == ["2024-12", "2025-01-01", "2025-01-02"]
    month = files[16]
    assert month.url("https://data.binance.vision") == (
        "https://data.binance.vision/data/spot/monthly/trades/BTCUSDT/BTCUSDT-trades-2024-12.zip"
    )
    assert len(days_of(month)) == 31 and days_of(month)[-1].period == "2024-12-31"
    # the current month is never monthly, even when the range covers it whole
    assert not any(
        f.monthly for f in plan("X", date(2025, 1, 1), date(2025, 1, 31), date(2025, 1, 31))
    )


def test_continuity_finds_every_hole_between_and_around_the_files() -> None:
    seen = Continuity()
    seen.see([10, 11, 12])
    seen.see([20, 21])  # a missing file
    seen.see([22, 25])  # a hole inside one
    seen.see([25, 24])  # repeated and backward ids are not holes
    assert seen.holes(5, 30) == [(5, 9), (13, 19), (23, 24), (26, 30)]
    assert seen.holes(None, None) == [(13, 19), (23, 24)]
    assert seen.out_of_order == 2
    assert Continuity().holes(3, 4) == [(3, 4)]


class _FakeRest:
    """historicalTrades of a market of 1..head ids, trade i at time 10*i; ids below forgot."""

    def __init__(self, head: int, forgot: int = 0) -> None:
        self.head, self.forgot, self.calls = head, forgot, 0
        self.priorities: set[Priority] = set()

    async def historical_trades(
        self, symbol: str, from_id: int, received: int, prio: Priority
    ) -> list[Tick]:
        self.calls += 1
        self.priorities.add(prio)
        start = max(from_id, self.forgot)
        return [
            Tick(
                symbol,
                i,
                "1",
                "1",
                1_300_000_000_000_000 + 10 * i,
                1_300_000_000_000_000 + 10 * i,
                False,
                0,
            )
            for i in range(start, min(start + 1000, self.head + 1))
        ]


@pytest.mark.parametrize("hint", [0, 1, 4_999, 5_000, 77_777, 2_000_000])
@pytest.mark.parametrize("target", [0, 1, 4_999, 5_000, 123_456, 999_999, 1_000_001])
def test_the_first_trade_at_an_instant_is_found_from_any_hint(hint: int, target: int) -> None:
    rest = _FakeRest(head=1_000_000)
    trades = RestTrades(rest, "BTCUSDT")  # type: ignore[arg-type]
    found = asyncio.run(trades.first_at(T0 + 10 * target, hint))
    assert found == min(target, 1_000_001)
    assert trades.calls <= 60


def test_the_shared_page_loop_repairs_holes_at_the_archive_priority() -> None:
    rest = _FakeRest(head=5_000, forgot=1_500)
    book = GapBook()
    forgotten = book.open("BTCUSDT", 1_000, 2_600, 0, GapReason.ARCHIVE)
    whole = book.open("BTCUSDT", 3_000, 3_200, 0, GapReason.ARCHIVE)
    pages = PageFetcher(rest, book, source=Source.ARCHIVE, empty_pages=3)  # type: ignore[arg-type]

    async def drain() -> tuple[list[int], list[Gap]]:
        ids: list[int] = []
        closed: list[Gap] = []
        while book.gaps("BTCUSDT"):
            page = await pages.page("BTCUSDT")
            assert {t.source for t in page.ticks} <= {Source.ARCHIVE}
            ids += [t.trade_id for t in page.ticks]
            closed += pages.settle("BTCUSDT", page)
        return ids, closed

    ids, closed = asyncio.run(drain())
    assert ids == [*range(1_500, 2_601), *range(3_000, 3_201)]
    assert closed == [forgotten, whole]
    assert forgotten.partial and not whole.partial  # REST forgot 1,000..1,499: unfillable
    assert rest.priorities == {Priority.ARCHIVE}
    assert rest.calls == 2  # 1,500..2,499, then 2,500..3,499 ends the first and fills the second


@pytest.mark.parametrize(("status", "refused"), [(503, False), (None, False), (400, True)])
def test_a_failing_page_gives_its_gaps_up_with_the_error(status: int | None, refused: bool) -> None:
    class Failing(_FakeRest):
        async def historical_trades(
            self, symbol: str, from_id: int, received: int, prio: Priority
        ) -> list[Tick]:
            self.calls += 1
            raise ExchangeError("down", status=status)

    book = GapBook()
    book.open("BTCUSDT", 10, 20, 0, GapReason.ARCHIVE)
    rest = Failing(head=100)
    pages = PageFetcher(rest, book, source=Source.ARCHIVE, empty_pages=3, failures=1)  # type: ignore[arg-type]
    page = asyncio.run(pages.page("BTCUSDT"))
    assert page.error is not None and page.error.refused is refused
    assert [(g.first, g.last) for g in page.given_up] == [(10, 20)]
    assert rest.calls == 1


def test_progress_draws_a_bar_on_a_terminal_and_lines_otherwise() -> None:
    import io

    from rich.console import Console

    from tickvault_writer.archive.importer import FileReport
    from tickvault_writer.archive.progress import BarProgress, LineProgress

    screen = io.StringIO()
    bar = BarProgress(Console(file=screen, force_terminal=True, width=100))
    bar.files(2)
    bar.rows(17_280)
    bar.file_done("BTCUSDT", FileReport("2025-01-01", "imported", 17_280, 17_280), 1.0)
    bar.backlog(5)
    bar.backlog(-5)
    bar.close()
    assert "1/2" in screen.getvalue() and "REST repair" in screen.getvalue()

    log = io.StringIO()
    lines = LineProgress(log)
    lines.files(1)
    lines.file_done("BTCUSDT", FileReport("2025-01-01", "missing"), 0.5)
    assert log.getvalue() == "[1/1] BTCUSDT 2025-01-01: missing, 0 rows, 0 new, 0 rows/s\n"


@pytest.mark.parametrize(
    ("now", "hours", "first_hot"),
    [
        (datetime(2026, 12, 7, 0, 0, tzinfo=UTC), 24, date(2026, 12, 6)),  # the 5th moved
        (datetime(2026, 12, 7, 23, 59, tzinfo=UTC), 24, date(2026, 12, 6)),
        (datetime(2026, 12, 7, 1, 0, tzinfo=UTC), 2, date(2026, 12, 6)),
        (datetime(2026, 12, 7, 2, 0, tzinfo=UTC), 2, date(2026, 12, 7)),
        (datetime(2026, 12, 7, 12, 0, tzinfo=UTC), 48, date(2026, 12, 5)),
    ],
)
def test_a_day_goes_cold_once_every_hour_of_it_is_past_the_retention_cut(
    now: datetime, hours: int, first_hot: date
) -> None:
    assert cold_before(now, hours) == first_hot
    assert (
        day_start_us(first_hot)
        == int(datetime(2026, 12, first_hot.day, tzinfo=UTC).timestamp()) * 10**6
    )
