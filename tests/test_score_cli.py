"""dataaudit score on the command line: both backends, the cache, exit codes, the JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from dataaudit.cli import main  # noqa: E402
from dataaudit.passes.score import read_scores  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VAL = ROOT / "fixtures" / "corpus" / "val.jsonl"


def _json_run(args, capsys):
    code = main(args + ["--format", "json", "--quiet"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_score_hf_model_writes_scores_and_report(gpt2_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code, rep, err = _json_run(["score", str(VAL), "--model", gpt2_dir, "--out", str(out), "--stride", "16",
                                "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 0, err
    assert rep["kind"] == "score" and rep["schema_version"] >= 1
    s = rep["summary"]["score"]
    assert s["docs"] > 10 and s["docs_scored_now"] == s["docs"] and s["tokens"] > 0
    table, meta = read_scores(out / "scores.parquet")
    assert table.num_rows == s["docs"] and meta["settings"]["stride"] == 16
    assert (out / "report.md").read_text().count("Reference-model scores") == 1
    # the second run is served by the cache
    code, rep2, _ = _json_run(["score", str(VAL), "--model", gpt2_dir, "--out", str(tmp_path / "out2"),
                               "--stride", "16", "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 0 and rep2["summary"]["score"]["docs_from_cache"] == s["docs"]
    assert rep2["summary"]["score"]["docs_scored_now"] == 0
    assert rep2["summary"]["score"]["nll_sum"] == pytest.approx(s["nll_sum"], rel=1e-12)


def test_score_default_model_fits_and_says_so(tmp_path, capsys, monkeypatch):
    import dataaudit.model.bytelm as bytelm
    from test_model_bytelm import TINY

    monkeypatch.setattr(bytelm, "DEFAULT_CONFIG", TINY)
    out = tmp_path / "out"
    code = main(["score", str(VAL), "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--quiet"])
    text = capsys.readouterr().out
    assert code == 0
    assert "No model given" in text and "the data itself" in text
    _, meta = read_scores(out / "scores.parquet")
    assert meta["model"]["kind"] == "bytelm" and meta["fit"]["steps_done"] == TINY.steps
    # the fitted model is loadable by path and gives the same scores
    code, rep, _ = _json_run(["score", str(VAL), "--model", meta["model"]["name"], "--out", str(tmp_path / "o2"),
                              "--no-cache"], capsys)
    t2, meta2 = read_scores(tmp_path / "o2" / "scores.parquet")
    assert meta2["model"]["fingerprint"] == meta["model"]["fingerprint"]
    assert t2["nll_sum"].to_pylist() == read_scores(out / "scores.parquet")[0]["nll_sum"].to_pylist()


@pytest.mark.parametrize("args,needle", [
    (["--model", "/nonexistent/model/dir"], "does not exist"),
    (["--model", str(VAL)], "is a file"),
    (["--stride", "0"], "stride"),
])
def test_bad_model_or_setting_is_exit_2_one_line(args, needle, tmp_path, capsys):
    code = main(["score", str(VAL), "--out", str(tmp_path / "o"), "--quiet", *args])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and err.strip().count("\n") == 0


def test_missing_data_is_exit_2(gpt2_dir, tmp_path, capsys):
    code = main(["score", str(tmp_path / "nope.jsonl"), "--model", gpt2_dir, "--out", str(tmp_path / "o"), "-q"])
    assert code == 2 and "nope.jsonl" in capsys.readouterr().err
