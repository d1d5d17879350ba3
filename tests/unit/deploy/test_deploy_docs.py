"""The README's configuration table lists every setting, and only settings that exist."""

from __future__ import annotations

import re

from tests.support.paths import REPO_ROOT

from tickvault.config import Settings
from tickvault_api.settings import ApiSettings
from tickvault_collector.settings import CollectorSettings
from tickvault_writer.settings import WriterSettings

# Read outside the Settings classes: the query client's URL and the test suite's own.
OTHER_VARIABLES = {
    "TICKVAULT_API_URL",
    "TICKVAULT_TEST_DATABASE_URL",
    "TICKVAULT_TEST_REDIS_URL",
    "TICKVAULT_SHARED_DIR",
}
DOCS = ["README.md", "docs/ARCHITECTURE.md", "docs/OPERATIONS.md", "docs/SCALING.md"]


def settings_variables() -> set[str]:
    return {
        f"TICKVAULT_{name.upper()}"
        for cls in (Settings, CollectorSettings, WriterSettings, ApiSettings)
        for name in cls.model_fields
    }


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(TICKVAULT_[A-Z0-9_]+)` \|", readme, re.M))
    assert settings_variables() - rows == set()


def test_docs_name_no_variable_the_code_does_not_read() -> None:
    known = settings_variables() | OTHER_VARIABLES
    for doc in DOCS:
        path = REPO_ROOT / doc
        text = path.read_text(encoding="utf-8")
        named = set(re.findall(r"TICKVAULT_[A-Z0-9_]*[A-Z0-9]", text))
        # "TICKVAULT_*_METRICS_PORT"-style wildcards are prose, not names
        assert {n for n in named if not n.endswith("_")} - known == set(), doc


def test_docs_link_only_to_files_that_exist() -> None:
    for doc in DOCS:
        path = REPO_ROOT / doc
        for target in re.findall(r"\]\((?!https?://|#)([^)#]+)", path.read_text(encoding="utf-8")):
            if target.endswith(("DATABASE.md", "API.md")):
                continue  # written by the schema and API owners; may land later
            assert (path.parent / target).exists(), f"{doc} links to missing {target}"
