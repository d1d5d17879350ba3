"""Matching REST pages against open gaps."""

from __future__ import annotations

from tickvault.codec import GapRecord, GapStatus
from tickvault.rest.book import GapBook, pages_needed, plan_page


def _book(*ranges: tuple[int, int]) -> GapBook:
    book = GapBook()
    for first, last in ranges:
        book.open("BTCUSDT", first, last, 1_000)
    return book


def test_one_page_fills_every_gap_it_covers() -> None:
    book = _book((60, 60), (10, 12), (5000, 5001))
    gaps = book.gaps("BTCUSDT")
    assert [g.first for g in gaps] == [10, 60, 5000]
    ids = list(range(10, 1010))
    plan = plan_page(gaps, 10, ids)
    assert [ids[i] for i in plan.take] == [10, 11, 12, 60]
    assert [(g.first, g.last) for g in plan.done] == [(10, 12), (60, 60)]
    assert plan.next_from == 5000
    assert not any(g.partial for g in plan.done)


def test_a_large_gap_is_filled_over_several_pages() -> None:
    gap = _book((100, 2600)).gaps("BTCUSDT")[0]
    plan = plan_page([gap], 100, list(range(100, 1100)))
    assert (len(plan.take), plan.done, plan.next_from) == (1000, [], 1100)
    plan = plan_page([gap], 1100, list(range(1100, 2100)))
    assert plan.next_from == 2100
    plan = plan_page([gap], 2100, list(range(2100, 3100)))
    assert (len(plan.take), plan.done, plan.next_from) == (501, [gap], None)
    assert gap.record(GapStatus.FILLED, 5) == GapRecord(
        "BTCUSDT", 100, 2600, GapStatus.FILLED, 1_000, 5
    )


def test_ids_rest_no_longer_holds_make_the_gap_partial() -> None:
    gap = _book((10, 20)).gaps("BTCUSDT")[0]
    plan = plan_page([gap], 10, list(range(15, 30)))
    assert (plan.done, gap.partial, len(plan.take)) == ([gap], True, 6)


def test_a_hole_inside_the_page_makes_the_gap_partial() -> None:
    gap = _book((10, 20)).gaps("BTCUSDT")[0]
    plan = plan_page([gap], 10, [10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21])
    assert (plan.done, gap.partial, len(plan.take)) == ([gap], True, 10)


def test_an_empty_page_changes_nothing() -> None:
    gap = _book((10, 20)).gaps("BTCUSDT")[0]
    plan = plan_page([gap], 10, [])
    assert (plan.take, plan.done, plan.next_from, gap.next_id) == ([], [], None, 10)


def test_the_book_reports_the_lowest_missing_id_and_forgets_closed_gaps() -> None:
    book = _book((50, 60), (10, 12))
    assert book.first_missing("BTCUSDT") == 10
    first = book.gaps("BTCUSDT")[0]
    book.close(first)
    assert book.first_missing("BTCUSDT") == 50
    assert book.first_missing("ETHUSDT") is None
    assert (book.total_open(), book.symbols()) == (1, ["BTCUSDT"])


def test_the_oldest_gap_is_repaired_first_then_the_busiest_symbol() -> None:
    book = GapBook()
    book.open("QUIET", 5, 5, 2_000_000)  # found in the same second as BUSY's
    book.open("BUSY", 100, 400, 2_500_000)
    book.open("LATE", 1, 9000, 9_000_000)
    book.open("OLD", 7, 7, 1_000_000)
    assert book.next_symbol() == "OLD"
    assert book.next_symbol(skip={"OLD"}) == "BUSY"
    assert book.next_symbol(skip={"OLD", "BUSY"}) == "QUIET"
    assert book.next_symbol(skip={"OLD", "BUSY", "QUIET"}) == "LATE"
    book.close(book.gaps("OLD")[0])
    assert book.next_symbol() == "BUSY"
    assert book.next_symbol(skip={"BUSY", "QUIET", "LATE"}) is None


def test_the_backlog_counts_calls_with_one_page_per_reach_and_the_oldest_age() -> None:
    book = GapBook()
    book.open("A", 10, 12, 1_000_000)
    book.open("A", 500, 600, 1_500_000)  # within the same page as 10..12
    book.open("A", 5000, 7500, 1_500_000)  # three more pages
    book.open("B", 1, 1, 3_000_000)
    assert book.backlog(11_000_000) == (5, 10.0)
    assert pages_needed(book.gaps("A")) == 4
    assert GapBook().backlog(5) == (0, 0.0)
    for gap in book.gaps("A") + book.gaps("B"):
        book.close(gap)
    assert book.total_open() == 0 and book.symbols() == []


def test_uncovered_leaves_out_what_open_gaps_hold() -> None:
    book = _book((10, 19), (30, 39))
    assert book.uncovered("BTCUSDT", 0, 50) == [(0, 9), (20, 29), (40, 50)]
    assert book.uncovered("BTCUSDT", 12, 35) == [(20, 29)]
    assert book.uncovered("BTCUSDT", 10, 19) == []
    assert book.uncovered("ETHUSDT", 1, 2) == [(1, 2)]


def test_the_resume_floor_moves_only_when_a_planned_page_is_settled() -> None:
    book = _book((100, 2600))
    gap = book.gaps("BTCUSDT")[0]
    plan_page([gap], 100, list(range(100, 1100)))  # fetched, still in the collector's memory
    assert gap.next_id == 1100
    assert book.first_missing("BTCUSDT") == 100  # a kill now must resume before the page
    book.settle("BTCUSDT")  # the page is in the stream
    assert book.first_missing("BTCUSDT") == 1100


def test_a_rewind_asks_again_for_every_page_above_the_stored_floor() -> None:
    book = _book((100, 2600), (5000, 5999))
    low, high = book.gaps("BTCUSDT")
    plan_page([low], 100, list(range(100, 2100)))  # two pages, both in the stream
    book.settle("BTCUSDT")
    book.rewind("BTCUSDT", 1499)  # ids up to 1,499 are stored; the stream lost the rest
    assert (low.next_id, low.settled) == (1500, 1500)
    assert book.first_missing("BTCUSDT") == 1500
    assert (high.next_id, high.settled) == (5000, 5000)  # nothing fetched: nothing to redo
    book.rewind("BTCUSDT", 50)  # a floor below a gap: the whole gap again
    assert (low.next_id, low.settled) == (100, 100)
