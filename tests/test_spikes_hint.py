"""When no point of a log can be judged, the error suggests settings derived from the runs' lengths
(logs.spikes.history_hint), and those settings do judge the points: the second point of a 2-point excerpt
(tr8-104B's iteration 7010 in the BigScience chronicles) needs --min-history 1, not a fixed 3."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dataaudit.cli import main
from dataaudit.logs import SpikeConfig
from dataaudit.logs.spikes import history_hint, score_series

LOGS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "training-logs"
DOC = (Path(__file__).resolve().parents[1] / "docs" / "spikes.md").read_text()


def test_history_hint_by_hand():
    runs = [(np.array([7000]), np.array([6.0])),                              # one point: never judged
            (np.array([7000, 7010]), np.array([6.4, 11.4])),
            (np.arange(11) + 31210, np.full(11, 2.2))]
    h = history_hint(runs, SpikeConfig())
    # steps are past the default warm-up (100), so it stays; the shortest judgeable run has 2 points: history 1
    assert h == {"min_history": 1, "warmup_steps": 100, "judged": 0 + 1 + 10, "judged_min1": 11, "runs": 3,
                 "single": 1}
    h = history_hint([(np.arange(1, 10), np.full(9, 2.0))], SpikeConfig())
    assert h == {"min_history": 8, "warmup_steps": 0, "judged": 1, "judged_min1": 8, "runs": 1, "single": 0}
    # a NaN is no history; Scored objects work the same; the configured history is the cap
    v = np.r_[np.full(30, 2.0), np.nan]
    h = history_hint([score_series(np.arange(31), v, SpikeConfig(warmup_steps=0, min_history=5))],
                     SpikeConfig(warmup_steps=0, min_history=5))
    assert (h["min_history"], h["warmup_steps"], h["judged"]) == (5, 0, 25)


def _hinted(err: str) -> list[str]:
    m = re.search(r"--min-history (\d+) --warmup-steps (\d+) judges", err)
    assert m, err
    return ["--min-history", m.group(1), "--warmup-steps", m.group(2)]


REC = " iteration {i:>8}/  159576 | consumed samples: {i:>8} | lm loss: {loss:.6E} | grad norm: 1.0 | loss scale: 2.0 |"


def test_hint_judges_the_second_point_of_a_two_point_excerpt(tmp_path, capsys):
    md = tmp_path / "chron.md"
    blocks = [[(7000, 6.444662), (7010, 11.42026)],                    # the chronicle's 7000 -> 7010 jump
              [(9000 + 10 * k, 3.0 + 0.01 * (k % 3)) for k in range(8)],
              [(12000, 3.1)]]
    md.write_text("".join("text\n```\n" + "\n".join(REC.format(i=i, loss=v) for i, v in b) + "\n```\n"
                          for b in blocks))
    out = tmp_path / "o"
    assert main(["spikes", "--log", str(md), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no point could be judged" in err
    assert "1 run(s) have fewer than 2 finite points, which no setting judges" in err
    flags = _hinted(err)
    assert flags[:2] == ["--min-history", "1"]
    assert main(["spikes", "--log", str(md), "--out", str(out), "-q", "--format", "json", *flags]) == 1
    import json
    rep = json.loads(capsys.readouterr().out)
    assert [(s["run"], s["step"]) for s in rep["findings"]["spikes"]] == [("chron@L2", 7010)]
    assert rep["summary"]["judged_points"] == 1 + 7
    # the one-point run stays unjudged: the warning says no setting judges it (not 'lower --min-history')
    (w,) = [w for w in rep["warnings"] if "no point that could be judged" in w]
    assert "which no setting judges" in w and "--min-history" not in w
    # the text summary on stdout says the same, not a generic 'lower --min-history or --warmup-steps'
    assert main(["spikes", "--log", str(md), "--out", str(tmp_path / "t"), "-q", *flags]) == 1
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "no point that could be judged" in x]
    assert "which no setting judges" in line and "lower --min-history" not in line


@pytest.mark.skipif(not LOGS.exists(), reason="shared/corpora/training-logs not present")
def test_chronicles_hint_judges_the_documented_spikes(tmp_path, capsys):
    logs = [str(p) for p in sorted((LOGS / "bigscience-chronicles").glob("*.md"))]
    assert main(["spikes", "--log", *logs, "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    flags = _hinted(err)
    assert err.strip() in DOC, "docs/spikes.md no longer quotes the chronicles' error"
    assert main(["spikes", "--log", *logs, "--out", str(tmp_path / "o"), "-q", "--format", "json", *flags]) == 1
    import json
    rep = json.loads(capsys.readouterr().out)
    assert sorted(s["step"] for s in rep["findings"]["spikes"]) == [7010, 8741, 11448, 17062, 29050, 31216, 31219]
