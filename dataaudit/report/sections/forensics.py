"""Sections of bad-batch forensics: per spike the verdict (data or optimizer state), the top suspects with
their reasons and an excerpt around the worst window, and the skip list."""

from __future__ import annotations

from ...records import Report
from ..doc import Bullets, Code, Lit, Para, Section, Table, num


def sections(report: Report) -> list[Section]:
    fs = report.summary.get("forensics")
    if not fs:
        return []
    st = fs.get("settings", {})
    c = fs.get("counts", {})
    sec = Section("Suspects", [Para(
        f"Order `{fs.get('order', {}).get('spec')}`: {c.get('mapped_steps', 0)} steps mapped to their documents "
        f"(each spike and the {st.get('window')} steps before it; {c.get('window_documents', 0)} documents), "
        f"compared with {c.get('control_documents', 0)} documents of control batches away from any spike. "
        f"Suspicion is how far a document lies outside the control documents (robust z per feature, combined); "
        f"{'bits per byte from the reference model included' if st.get('scored') else 'no model: cheap features only'}.")],
        key="suspects")
    if fs.get("control_too_small"):
        sec.add(Para("**Too few control documents** to trust the z scores: map a run with more steps before the "
                     "spike or raise --control-batches."))
    if fs.get("notes"):
        sec.add(Bullets(list(fs["notes"])))
    verdicts = []
    for run, info in (fs.get("runs") or {}).items():
        for sp in info.get("spikes", []):
            verdicts.append([run, sp["step"], f"{sp['window_steps'][0]}-{sp['window_steps'][-1]}", sp["documents"],
                             f"**{sp['verdict']}**", sp["verdict_note"]])
    if verdicts:
        sec.add(Table(["run", "spike step", "mapped steps", "documents", "verdict", "why"], verdicts,
                      numeric=(1, 3)))
    rows = (report.findings.get("forensics") or {}).get("suspects") or []
    if rows:
        sec.add(Para("Most suspicious documents of each mapped step (all in suspects.parquet):"),
                Table(["run", "step", "rank", "doc_id", "suspicion", "bits/byte", "reasons", "text around the worst window"],
                      [[r["run"], r["step"], r["rank"], Lit(str(r["doc_id"])), num(r.get("suspicion"), 3),
                        num(r.get("bits_per_byte")), "; ".join(r.get("reasons") or []) or "none",
                        Lit(r.get("excerpt") or "", 200)] for r in rows], numeric=(1, 2, 4, 5)))
    out = [sec]
    lines = fs.get("skip_lines") or []
    if lines:
        out.append(Section("Skip list", [
            Para("Restart from a checkpoint about --restart-before steps before the spike and skip the mapped "
                 "window, as PaLM did (Chowdhery et al. 2022, section 5.1): one ready line per framework; "
                 "skip.json holds the steps, sample ranges and doc ids."),
            Code("\n".join(lines))], key="skip"))
    return out
