"""A service's metrics declared as a MetricSet: names, order, registries, subclasses."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from tickvault.metrics import MetricSet, counter, gauge, histogram


class Shop(MetricSet):
    service = "shop"
    sold = counter("Items sold, by aisle", "aisle")
    wait = histogram("Seconds at the till", (0.5, 1.0), name="till_seconds")
    open_tills = gauge("Tills open", mode="max")


class BigShop(Shop):
    returns = counter("Items brought back")


def test_a_metric_is_named_after_its_attribute_unless_given_in_declaration_order() -> None:
    shop = Shop()
    shop.sold.labels("fruit").inc(3)
    shop.wait.observe(0.7)
    shop.open_tills.set(2)
    text = generate_latest(shop.registry).decode()
    assert 'tickvault_shop_sold_total{aisle="fruit"} 3.0' in text
    assert 'tickvault_shop_till_seconds_bucket{le="1.0"} 1.0' in text
    assert "tickvault_shop_open_tills 2.0" in text
    types = [line.split()[2:] for line in text.splitlines() if line.startswith("# TYPE")]
    assert [t for t in types if not t[0].endswith("_created")] == [
        ["tickvault_shop_sold_total", "counter"],
        ["tickvault_shop_till_seconds", "histogram"],
        ["tickvault_shop_open_tills", "gauge"],
    ]


def test_each_set_makes_its_own_metrics_on_its_own_registry() -> None:
    registry = CollectorRegistry()
    first, second = Shop(registry), Shop()
    first.open_tills.set(5)
    assert first.registry is registry and second.registry is not registry
    assert first.open_tills is not second.open_tills
    assert registry.get_sample_value("tickvault_shop_open_tills") == 5.0
    assert second.registry.get_sample_value("tickvault_shop_open_tills") == 0.0


def test_a_subclass_keeps_its_bases_metrics_and_adds_its_own() -> None:
    big = BigShop()
    big.returns.inc()
    big.sold.labels("bread").inc()
    assert big.registry.get_sample_value("tickvault_shop_returns_total") == 1.0
    assert big.registry.get_sample_value("tickvault_shop_sold_total", {"aisle": "bread"}) == 1.0
    assert Shop().registry.get_sample_value("tickvault_shop_returns_total") is None
