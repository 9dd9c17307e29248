import json
import os
import shutil
import subprocess
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


class Chromium:
    """Headless Chromium for the HTML report tests: the DOM after scripts ran, a screenshot, and the requests
    the page made (from Chromium's own network log), with every name resolving to nothing."""

    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-extensions", "--hide-scrollbars", "--mute-audio", '--host-resolver-rules=MAP * ~NOTFOUND')

    def __init__(self, exe: str, workdir: Path) -> None:
        self.exe, self.workdir, self._n = exe, workdir, 0

    def _run(self, page: Path, *args: str) -> subprocess.CompletedProcess:
        self._n += 1
        profile = self.workdir / f"profile{self._n}"
        cmd = [self.exe, *self.FLAGS, f"--user-data-dir={profile}", *args, Path(page).resolve().as_uri()]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
        if p.returncode != 0:
            raise AssertionError(f"chromium exited {p.returncode}: {p.stderr[-2000:]}")
        return p

    def dom(self, page: Path) -> tuple[str, list[str]]:
        """(the serialized DOM after the page's scripts ran, the URLs the page itself requested)."""
        log = self.workdir / f"net{self._n + 1}.json"
        p = self._run(page, "--virtual-time-budget=3000", f"--log-net-log={log}", "--net-log-capture-mode=Default",
                      "--dump-dom")
        return p.stdout, page_requests(log)

    def screenshot(self, page: Path, png: Path, width: int = 1280, height: int = 2000) -> Path:
        self._run(page, f"--window-size={width},{height}", f"--screenshot={png}")
        return png


def page_requests(netlog: Path) -> list[str]:
    """URLs that a page asked for, from a Chromium NetLog: requests whose initiator is an origin (a file://
    page's is "null"); the browser's own background requests have "not an origin" and are left out."""
    d = json.loads(netlog.read_text())
    start = d["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in d["events"] if e.get("type") == start and "url" in e.get("params", {})
            and e["params"].get("initiator") != "not an origin"]


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> Chromium:
    """Headless Chromium (``$DATAAUDIT_CHROMIUM`` or chromium on PATH); the test is skipped when none is
    installed (CI installs Debian's: apt-get install -y chromium)."""
    exe = os.environ.get("DATAAUDIT_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if not exe:
        pytest.skip("no Chromium installed (apt-get install -y chromium); the browser tests need one")
    return Chromium(exe, tmp_path_factory.mktemp("chromium"))


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory) -> str:
    """A tiny random GPT-2 with its own BPE (tests/_models.py), built once per session; tests must not write in it."""
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from _models import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("gpt2"))


@pytest.fixture(scope="module")
def gpt2(gpt2_dir):
    """That GPT-2 loaded on the CPU through dataaudit's model loader."""
    from dataaudit.model import load_model

    return load_model(gpt2_dir, device="cpu")
