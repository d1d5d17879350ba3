"""Every exception tickvault defines is a TickvaultError, drawn in tickvault.errors' tree."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import tickvault.errors
from tickvault.errors import TickvaultError

PACKAGES = (
    "tickvault",
    "tickvault_collector",
    "tickvault_writer",
    "tickvault_api",
    "tickvault_replay",
)


def defined_exceptions() -> list[type[BaseException]]:
    """Return every exception class defined (not imported) in tickvault's packages."""
    found: list[type[BaseException]] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if ".migrations" in info.name or info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            found += [
                value
                for value in vars(module).values()
                if inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ]
    return found


EXCEPTIONS = defined_exceptions()


def test_the_walk_finds_the_services_exceptions() -> None:
    names = {f"{e.__module__}.{e.__name__}" for e in EXCEPTIONS}
    assert "tickvault_writer.store.RowsRefused" in names
    assert "tickvault_collector.gaps.audit.AuditStopped" in names


@pytest.mark.parametrize("exc", EXCEPTIONS, ids=lambda e: f"{e.__module__}.{e.__name__}")
def test_every_public_exception_is_a_tickvault_error_drawn_in_the_tree(
    exc: type[BaseException],
) -> None:
    if exc.__name__.startswith("_"):
        return  # module-private: may stand outside the tree while it never leaves its module
    assert issubclass(exc, TickvaultError)
    # Drawn in the shared tree, or in the tree of its own module (the API's error answers).
    own = inspect.getmodule(exc)
    trees = (tickvault.errors.__doc__ or "") + ((own.__doc__ or "") if own else "")
    assert exc.__name__ in trees
