"""Matching REST pages against open gaps."""

from __future__ import annotations

from tickvault.codec import GapRecord, GapStatus
from tickvault_collector.gaps import GapBook, plan_page


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
