import json
import subprocess
import sys

import pytest

from dataaudit.cli import main


def _split(capsys, *args):
    code = main(["split", "--quiet", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_leaks_exit_1_and_json_schema(corpus, tmp_path, capsys):
    code, out, err = _split(capsys, "--train", corpus / "train.jsonl", "--val", corpus / "val.parquet",
                            "--test", corpus / "test_txt", "--id-column", "id", "--format", "json",
                            "--out", tmp_path / "r")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["schema_version"] == 2 and doc["kind"] == "split"
    for key in ("config", "summary", "findings", "files", "warnings", "phases", "bad_records", "versions"):
        assert key in doc
    assert doc["config"]["normalize"] == {"nfkc": True, "lower": True, "punctuation": True, "digits": False,
                                          "whitespace": True}
    assert doc["summary"]["exact"]["splits"]["val"]["leaked_docs"] == 7
    assert doc["versions"]["xxhash"]
    assert json.loads((tmp_path / "r" / "report.json").read_text())["summary"] == doc["summary"]
    assert (tmp_path / "r" / "report.md").read_text().startswith("# dataaudit split report")
    for rel in doc["files"].values():
        assert (tmp_path / "r" / rel).exists()


def test_clean_split_exits_0(corpus, tmp_path, capsys):
    code, out, _ = _split(capsys, "--train", corpus / "test.arrow", "--val", corpus / "evalset.jsonl",
                          "--out", tmp_path / "r")
    assert code == 0
    assert "0 exact leaks" in out


@pytest.mark.parametrize("fail_on, code", [("never", 0), ("leak", 1), ("0.5", 0), ("0.05", 1)])
def test_fail_on(corpus, tmp_path, capsys, fail_on, code):
    got, _, _ = _split(capsys, "--train", corpus / "train.jsonl", "--val", corpus / "val.jsonl",
                       "--fail-on", fail_on, "--out", tmp_path / "r")
    assert got == code


def test_fail_on_duplicate_level(corpus, tmp_path, capsys):
    # test.arrow vs evalset: no leaks and no duplicates -> 0 even at the strictest level
    assert _split(capsys, "--train", corpus / "test.arrow", "--val", corpus / "evalset.jsonl",
                  "--fail-on", "duplicate", "--out", tmp_path / "a")[0] == 0
    # train vs evalset without the containment pass: no leaks, but train has duplicates
    assert _split(capsys, "--train", corpus / "train.jsonl", "--val", corpus / "evalset.jsonl", "--no-containment",
                  "--fail-on", "duplicate", "--out", tmp_path / "b")[0] == 1
    assert _split(capsys, "--train", corpus / "train.jsonl", "--val", corpus / "evalset.jsonl", "--no-containment",
                  "--out", tmp_path / "c")[0] == 0


@pytest.mark.parametrize("val, message", [
    ("bad_json.jsonl", "bad_json.jsonl line 3: invalid JSON"),
    ("null_text.jsonl", "null_text.jsonl line 2: text field 'text' is null"),
    ("nonstring_text.jsonl", "line 2: text field 'text' is a int, not a string"),
    ("bad_utf8.jsonl", "bad_utf8.jsonl line 2: line is not valid UTF-8"),
    ("empty.jsonl", "no documents read from"),
    ("truncated.parquet", "truncated.parquet: truncated Parquet file"),
    ("notes.xyz", "cannot tell the format"),
    ("no_text_column.parquet", "available: ['id', 'html']. Pass --text-column"),
    ("missing.jsonl", "missing.jsonl: no such file or directory"),
])
def test_bad_input_one_line_exit_2_nothing_written(corpus, broken, tmp_path, capsys, val, message):
    code, out, err = _split(capsys, "--train", corpus / "train.jsonl", "--val", broken / val,
                            "--out", tmp_path / "r")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("dataaudit: error: ") and message in err
    assert not (tmp_path / "r").exists()
    assert list(tmp_path.iterdir()) == []  # no staging directory left behind either


def test_skip_bad_records_counts_them(corpus, broken, tmp_path, capsys):
    code, out, err = _split(capsys, "--train", corpus / "train.jsonl", "--val", broken / "bad_json.jsonl",
                            "--on-bad-record", "skip", "--format", "json", "--out", tmp_path / "r0")
    # 1 of 4 records is past the default limit (1%): a broken file cannot pass as a clean audit
    assert code == 2 and "past --max-bad-records 0.01" in err and not (tmp_path / "r0").exists()
    code, out, _ = _split(capsys, "--train", corpus / "train.jsonl", "--val", broken / "bad_json.jsonl",
                          "--on-bad-record", "skip", "--max-bad-records", "1", "--format", "json",
                          "--out", tmp_path / "r")
    doc = json.loads(out)
    assert doc["bad_records"]["count"] == 1 and doc["bad_records"]["by_split"] == {"train": 0, "val": 1}
    assert doc["bad_records"]["examples"][0]["line"] == 3
    assert doc["summary"]["documents"]["val"] == 3
    assert "## Bad records" in (tmp_path / "r" / "report.md").read_text()


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["split", "--val", "x"]) == 2            # --train missing
    assert main(["split", "--train", "x", "--out", str(tmp_path), "--fail-on", "bogus"]) == 2
    assert main(["split", "--train", "x", "--out", str(tmp_path)]) == 2   # nothing to compare with
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "nothing to compare train with" in err and "--fail-on 'bogus'" in err


def test_rerun_replaces_report(corpus, tmp_path, capsys):
    for val in ("val.jsonl", "evalset.jsonl"):
        _split(capsys, "--train", corpus / "train.jsonl", "--val", corpus / val, "--out", tmp_path / "r")
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    assert doc["summary"]["exact"]["splits"]["val"]["leaked_docs"] == 0
    assert doc["summary"]["leaks"]["by_split"]["val"]["docs"] == 12


def test_console_entry_points(corpus, tmp_path):
    r = subprocess.run([sys.executable, "-m", "dataaudit", "split", "--train", str(corpus / "train.jsonl"),
                        "--val", str(corpus / "val.jsonl"), "--out", str(tmp_path / "r")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "7 exact leaks" in r.stdout
    # stderr is not a terminal: no bars, only one notice at the start and end of each phase
    notes = r.stderr.splitlines()
    assert notes and all(n.startswith("dataaudit: ") for n in notes)
    assert "dataaudit: exact ..." in notes and any(n.startswith("dataaudit: exact done in ") for n in notes)
    q = subprocess.run([sys.executable, "-m", "dataaudit", "split", "--train", str(corpus / "train.jsonl"),
                        "--val", str(corpus / "val.jsonl"), "--out", str(tmp_path / "q"), "--quiet"],
                       capture_output=True, text=True)
    assert q.returncode == 1 and q.stderr == ""


def test_all_passes_find_exactly_the_planted_leaks(corpus, tmp_path, capsys, expected):
    """exact + near + containment in one report: every planted leak, and nothing else."""
    import pyarrow.parquet as pq

    code, out, _ = _split(capsys, "--train", corpus / "train.jsonl", "--val", corpus / "val.jsonl",
                          "--test", corpus / "test.arrow", "--eval", corpus / "evalset.jsonl",
                          "--id-column", "id", "--format", "json", "--out", tmp_path / "r")
    assert code == 1
    doc = json.loads(out)
    leaks = {r["doc_id"]: r for r in pq.read_table(tmp_path / "r" / "leaks.parquet").to_pylist()}
    # eval doc_ids are relative, <set>:<row> (issue 12; they were the absolute path with the row)
    contained = {f"evalset:{k.split(':')[1]}": v for k, v in expected["contained"].items()}
    want = {**expected["exact_leaks"], **expected["near_leaks"], **contained}
    assert set(leaks) == set(want)
    for doc_id, train_ids in want.items():
        assert train_ids[0] in leaks[doc_id]["train_doc_ids"]
    for doc_id in expected["exact_leaks"]:
        assert leaks[doc_id]["exact"]
    for doc_id in expected["near_leaks"]:
        assert not leaks[doc_id]["exact"] and leaks[doc_id]["near_jaccard"] >= 0.8
    for doc_id in contained:
        assert leaks[doc_id]["passes"] == ["containment"] and leaks[doc_id]["containment"] >= 0.5
    by = doc["summary"]["leaks"]["by_split"]
    assert by["val"] == {"docs": 71, "leaked_docs": 10, "leaked_doc_fraction": 10 / 71, "exact": 7,
                         "near_not_exact": 3, "containment_only": 0, "trivial": 0,   # "trivial": issue 12
                         # no trivial leak here: the leaks' exact bytes are the exact pass's leaked bytes
                         "exact_bytes": doc["summary"]["exact"]["splits"]["val"]["leaked_bytes"],
                         "trivial_by_pass": {"exact": 0, "near": 0, "containment": 0}}
    assert by["evalset"]["containment_only"] == 4 and doc["summary"]["leaked_docs"] == 15
    md = (tmp_path / "r" / "report.md").read_text()
    assert md.index("## Verdict") < md.index("## Leaked documents, all passes") < md.index("## Exact duplicates")
    assert "P(candidate)" in md or "detection" in md.lower()


def test_passes_can_be_switched_off(corpus, tmp_path, capsys):
    code, out, _ = _split(capsys, "--train", corpus / "train.jsonl", "--val", corpus / "val.jsonl",
                          "--no-near", "--no-containment", "--format", "json", "--out", tmp_path / "r")
    doc = json.loads(out)
    assert "near" not in doc["summary"] and "containment" not in doc["summary"]
    assert doc["summary"]["leaks"]["by_split"]["val"]["leaked_docs"] == 7
