"""Output directories: published under a lock, staged on the same filesystem, nothing stale, nothing lost."""

from __future__ import annotations

import json
import os
import stat

import pytest

from dataaudit.cli import main
from dataaudit.errors import InputError
from dataaudit.io.publish import Publisher


def _split(corpus, out, *extra):
    return main(["split", "--train", str(corpus / "train.jsonl"), "--val", str(corpus / "val.jsonl"), "--quiet",
                 "--out", str(out), *extra])


def test_rerun_with_fewer_passes_leaves_only_what_the_report_lists(corpus, tmp_path, capsys):
    out = tmp_path / "r"
    _split(corpus, out)
    (out / "my_notes.txt").write_text("mine")                      # a user's file: never touched
    assert (out / "near_pairs.parquet").exists() and (out / "containment.parquet").exists()
    _split(corpus, out, "--no-near", "--no-containment")
    doc = json.loads((out / "report.json").read_text())
    listed = set(doc["files"].values()) | {"report.json", "report.md", "report.html"}
    present = {p.name for p in out.iterdir()} - {".dataaudit", "my_notes.txt"}
    assert present == listed
    assert (out / "my_notes.txt").read_text() == "mine"


def test_out_that_is_an_input_or_a_file_is_refused(corpus, tmp_path, capsys):
    assert _split(corpus, corpus) == 2                              # --out is the input's directory
    assert "is, contains or lies inside the input" in capsys.readouterr().err
    f = tmp_path / "file"
    f.write_text("x")
    assert _split(corpus, f) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text((corpus / "train.jsonl").read_text())
    assert main(["split", "--train", str(data), "--val", str(corpus / "val.jsonl"), "--out", str(data / "r"),
                 "-q"]) == 2                                       # --out inside an input directory
    assert not (data / "r").exists()


def test_second_run_into_the_same_out_is_refused(tmp_path):
    with Publisher(tmp_path / "o"):
        with pytest.raises(InputError, match=r"another dataaudit run is writing there \(pid \d+\)"):
            Publisher(tmp_path / "o").__enter__()
    with Publisher(tmp_path / "o"):                                 # released: the next run may go
        pass


def test_stale_staging_of_a_killed_run_is_removed(corpus, tmp_path, capsys):
    out = tmp_path / "r"
    _split(corpus, out)
    stale = out / ".dataaudit" / "staging-999999"
    stale.mkdir()
    (stale / "near_pairs.parquet").write_bytes(b"x" * 1000)
    _split(corpus, out)
    assert not stale.exists() and not list((out / ".dataaudit").glob("staging*"))


def test_a_failed_run_keeps_the_previous_report(corpus, broken, tmp_path, capsys):
    out = tmp_path / "r"
    _split(corpus, out)
    before = (out / "report.json").read_text()
    code = main(["split", "--train", str(corpus / "train.jsonl"), "--val", str(broken / "bad_json.jsonl"), "-q",
                 "--out", str(out)])
    assert code == 2 and (out / "report.json").read_text() == before


def test_a_failed_first_run_leaves_nothing(broken, corpus, tmp_path, capsys):
    out = tmp_path / "fresh"
    assert main(["split", "--train", str(corpus / "train.jsonl"), "--val", str(broken / "bad_json.jsonl"), "-q",
                 "--out", str(out)]) == 2
    assert not out.exists()


def test_files_get_the_users_umask(corpus, tmp_path, capsys):
    old = os.umask(0o022)
    try:
        _split(corpus, tmp_path / "r")
    finally:
        os.umask(old)
    for name in ("report.json", "report.md", "exact_leaks.parquet"):
        assert stat.S_IMODE((tmp_path / "r" / name).stat().st_mode) == 0o644, name


def test_score_and_spikes_publish_through_the_same_path(tmp_path, capsys):
    log = tmp_path / "r.txt"
    log.write_text("".join(f"step:{s}/300 train_loss:{2 + 0.01 * (s % 7):.4f} train_time:1ms\n"
                           for s in range(1, 300)))
    out = tmp_path / "o"
    assert main(["spikes", "--log", str(log), "--out", str(out), "-q", "--no-plots"]) in (0, 1)
    assert (out / ".dataaudit" / "manifest.json").exists()
    names = set(json.loads((out / ".dataaudit" / "manifest.json").read_text())["files"])
    assert {"report.json", "report.md", "spikes.parquet"} <= names
    with Publisher(out):                                            # a run in progress holds the lock
        assert main(["spikes", "--log", str(log), "--out", str(out), "-q"]) == 2
    assert "another dataaudit run" in capsys.readouterr().err


def test_same_file_as_train_and_val_is_named_in_the_verdict(corpus, tmp_path, capsys):
    main(["split", "--train", str(corpus / "val.jsonl"), "--val", str(corpus / "val.jsonl"), "-q",
          "--out", str(tmp_path / "r")])
    md = (tmp_path / "r" / "report.md").read_text()
    verdict = md.split("## Verdict", 1)[1].split("\n## ", 1)[0]
    assert "train and val are the same input" in verdict


def _immutable(path, on: bool) -> bool:
    import subprocess

    r = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True)
    return r.returncode == 0


@pytest.mark.parametrize("published_before", [False, True])
def test_out_that_cannot_be_written_is_one_line(corpus, tmp_path, capsys, published_before):
    out = tmp_path / "ro"
    if published_before:
        _split(corpus, out)
        capsys.readouterr()
    else:
        out.mkdir()
    if not _immutable(out, True):
        pytest.skip("chattr +i is not available here")
    try:
        assert _split(corpus, out) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(out) in err and "--out" in err and "internal error" not in err
    finally:
        _immutable(out, False)
    if published_before:                              # the previous report is untouched
        assert json.loads((out / "report.json").read_text())["kind"] == "split"
