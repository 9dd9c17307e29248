"""The Diagnosis section's sentences (report/sections/diagnosis.py) and the agreement of a verdict with its caveat
(logs/verdict.py) on logs too short for a full verdict: no empty sentence, no "divergence" with a caveat that
says nothing can be told."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dataaudit.api import SpikesConfig, analyze_spikes
from dataaudit.logs import SpikeConfig
from dataaudit.logs.verdict import PRIORITY, judge_run
from dataaudit.report.sections.diagnosis import run_line, sentences

LOGS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "training-logs"
EMPTY_SENTENCE = re.compile(r"\.\s+\.|\.\.")


def test_sentences_skip_empty_parts_and_end_each_with_one_stop():
    assert sentences(["**cannot tell**", "", "  ", None, "why: x (min 20)", "done."]) == \
        "**cannot tell**. Why: x (min 20). Done."
    assert sentences([]) == ""


def test_short_log_without_divergence_is_cannot_tell_in_clean_sentences():
    d = judge_run(np.arange(8), 3 + 0.01 * np.arange(8))
    assert d["verdict"] == "cannot_judge" and set(d["cannot_tell"]) == {"all"}
    # the reason comes with the verdict, without the caveat's "cannot tell any pattern:" lead-in
    assert d["caveat"].startswith("cannot tell any pattern: only 8 finite")
    assert d["why"].startswith("only 8 finite train point(s)")
    line = run_line("r", d)
    assert not EMPTY_SENTENCE.search(line), line
    assert line == ("`r`: **cannot tell**. Why: only 8 finite train point(s) after warm-up; a verdict needs 20 "
                    "(VerdictConfig.min_train_points).")


def _climb(step=5, points=4):
    return [{"kind": "climb", "step": step, "end_step": 8, "points": points, "to_end": True,
             "detail": "the loss climbs and does not come back before the log ends"}]


def test_divergence_on_a_short_log_caveat_says_what_the_short_log_limits():
    v = np.array([2.7, 2.7, 2.7, 2.7, 4.4, 4.4, 4.4, 4.1, 4.1])
    d = judge_run(np.arange(9), v, events=_climb())
    assert d["verdict"] == "divergence"
    # the caveat and cannot_tell agree with the verdict: divergence is judged, the other patterns are not
    assert "cannot tell any pattern" not in d["caveat"] and "all" not in d["cannot_tell"]
    assert "divergence" not in d["cannot_tell"]
    assert set(d["cannot_tell"]) == (set(PRIORITY) | {"healthy"}) - {"divergence"}
    assert "divergence is judged on only 9 finite train point(s)" in d["caveat"]
    assert "the other patterns need 20" in d["caveat"] and "cannot be told" in d["caveat"]
    assert "lasts to the end of the log (4 point(s))" in d["caveat"]
    line = run_line("r", d)
    assert not EMPTY_SENTENCE.search(line), line
    assert line.startswith("`r`: **divergence**. The loss climbs from step 5 (4 points, to the end of the log). "
                           "Caveat: divergence is judged on only 9")


def test_nan_on_a_short_log():
    v = np.array([2.7, 2.6, np.nan, 2.5])
    d = judge_run(np.arange(4), v, events=[{"kind": "nan", "step": 2, "count": 1, "detail": "first non-finite"}])
    assert d["verdict"] == "divergence" and "only 3 finite train point(s)" in d["caveat"]
    assert "end of the log" not in d["caveat"]
    assert "First nan value at step 2." in run_line("r", d)


def _megatron_md(path: Path) -> None:
    rec = " iteration {i:>8}/  159576 | consumed samples: {cs:>8} | lm loss: {loss:.6E} | loss scale: 2048.0 |"
    short = [rec.format(i=i, cs=i * 8, loss=3.0) for i in (1, 2, 3)]
    climb = [rec.format(i=i, cs=i * 8, loss=v) for i, v in
             zip(range(10, 19), [2.665, 2.667, 4.374, 4.366, 4.391, 4.405, 4.398, 4.096, 4.137])]  # tr8b @ 17060
    path.write_text("# notes\n```\n" + "\n".join(short) + "\n```\nthen\n```\n" + "\n".join(climb) + "\n```\n")


@pytest.mark.parametrize("fmt", ["report.md", "report.html"])
def test_report_has_no_empty_sentence_and_the_verdict_agrees(tmp_path, fmt):
    log = tmp_path / "chron.md"
    _megatron_md(log)
    rep = analyze_spikes(log, out_dir=tmp_path / "o",
                         config=SpikesConfig(spikes=SpikeConfig(min_history=1, warmup_steps=0), plots=False))
    diag = rep.summary["diagnosis"]
    assert diag["chron@L2"]["verdict"] == "cannot_judge" and diag["chron@L8"]["verdict"] == "divergence"
    text = (tmp_path / "o" / fmt).read_text()
    assert "**cannot tell**. Why: only 3 finite" in text or "<strong>cannot tell</strong>. Why: only 3 finite" in text
    assert "divergence is judged on only 9 finite train point(s)" in text
    assert not EMPTY_SENTENCE.search(re.sub(r"<[^>]+>", "", text).replace("...", "")), \
        EMPTY_SENTENCE.search(text)


@pytest.mark.skipif(not LOGS.exists(), reason="shared/corpora/training-logs not present")
def test_chronicles_report_lines(tmp_path):
    logs = sorted((LOGS / "bigscience-chronicles").glob("*.md"))
    analyze_spikes(logs, out_dir=tmp_path / "o",
                   config=SpikesConfig(spikes=SpikeConfig(min_history=1, warmup_steps=0), plots=False))
    md = (tmp_path / "o" / "report.md").read_text()
    runs = [ln for ln in md.splitlines() if ln.startswith("- `") and "_chronicles@L" in ln]
    assert len(runs) == 18 and not any(EMPTY_SENTENCE.search(ln) for ln in runs)
    (div,) = [ln for ln in runs if "**divergence**" in ln]
    assert div.startswith("- `tr8b-104B_chronicles@L445`: **divergence**. The loss climbs from step 17064")
    assert "cannot tell any pattern" not in div and "divergence is judged on only 9" in div
    doc = (Path(__file__).resolve().parents[1] / "docs" / "spikes.md").read_text()
    assert div in doc, "docs/spikes.md no longer quotes this line"
