import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
CORPUS = FIXTURES / "corpus"
BROKEN = FIXTURES / "broken"


def corpora_dir() -> Path | None:
    """../shared/corpora (or $DATAAUDIT_CORPORA) when present; tests using it skip otherwise."""
    p = Path(os.environ.get("DATAAUDIT_CORPORA", ROOT.parent / "shared" / "corpora"))
    return p if p.is_dir() else None


@pytest.fixture
def corpus() -> Path:
    return CORPUS


@pytest.fixture
def broken() -> Path:
    return BROKEN


@pytest.fixture(scope="session")
def expected() -> dict:
    return json.loads((FIXTURES / "expected.json").read_text())
