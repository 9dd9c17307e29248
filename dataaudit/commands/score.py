"""dataaudit score: per-document reference-model perplexity, bits per byte, Min-K%, zlib ratio, worst window."""

from __future__ import annotations

import argparse
import sys
import time


def register(sub) -> None:
    from ..cli import add_input_args, add_output_args

    p = sub.add_parser("score", help="score every document with a reference model (perplexity, bits/byte)",
                       description="Per-document reference-model scores (nll_sum, n_tokens, n_bytes, perplexity, "
                                   "bits per byte, Min-K%%, zlib ratio, worst window) into DIR/scores.parquet, "
                                   "with report.json and report.md. Without --model, a small byte-level model "
                                   "is fitted on a sample of DATA (or of --fit-on) and cached.")
    p.add_argument("data", metavar="DATA", help="documents: file, directory or glob (jsonl, parquet, arrow, csv, "
                                                "txt directory, HF dataset directory)")
    p.add_argument("--model", metavar="M", help="local Hugging Face causal LM (directory or cached name; offline), "
                                                "or a byte-level model directory written by dataaudit")
    p.add_argument("--fit-on", metavar="CORPUS", help="without --model: fit the byte-level default on a sample of "
                                                      "CORPUS instead of DATA (e.g. your training split)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="where the model runs (auto: cuda, else mps, else cpu)")
    p.add_argument("--max-length", type=int, metavar="N", help="tokens per window (default: the model's context)")
    p.add_argument("--stride", type=int, metavar="N",
                   help="new tokens scored per window after the first (default: max length, non-overlapping; "
                        "smaller = more context per token, slower)")
    p.add_argument("--bos", choices=("auto", "always", "never"), default="auto",
                   help="prefix BOS (or EOS) so the first token is scored (auto/always), or not (never)")
    p.add_argument("--min-k", type=float, default=0.2, metavar="F", help="Min-K%% fraction (default 0.2)")
    p.add_argument("--batch-tokens", type=int, metavar="N",
                   help="padded tokens per forward pass (default 16384 on CPU, 131072 on GPU)")
    p.add_argument("--cache-dir", metavar="DIR", help="score and model cache (default $DATAAUDIT_CACHE or "
                                                      "~/.cache/dataaudit)")
    p.add_argument("--no-cache", action="store_true", help="score everything again and cache nothing")
    p.add_argument("--split", default="data", help="split label recorded for DATA (default: data)")
    add_input_args(p, what="DATA")
    add_output_args(p)
    p.set_defaults(func=run)


class _Progress:
    """Bars on stderr: fitting steps, then documents with tokens/s and ETA. Off when quiet or not a TTY."""

    def __init__(self, quiet: bool, total_docs: int | None) -> None:
        self.on = not quiet and sys.stderr.isatty()
        self.total = total_docs
        self.bar = None
        self.kind = None

    def __call__(self, event: str, **f) -> None:
        if not self.on:
            return
        from tqdm import tqdm

        if event != self.kind:
            self.close()
            self.kind = event
            if event == "fit":
                self.bar = tqdm(total=f.get("steps"), desc="fitting byte-level model", unit=" steps",
                                file=sys.stderr, leave=False)
            else:
                self.bar = tqdm(total=self.total, desc="scoring", unit=" docs", file=sys.stderr, leave=False)
        if event == "fit":
            self.bar.n = f["step"]
            self.bar.set_postfix_str(f"loss {f['loss']:.3f}", refresh=False)
        else:
            self.bar.n = f["docs"]
            secs = max(f.get("seconds", 0.0), 1e-9)
            self.bar.set_postfix_str(f"{f['tokens'] / secs:,.0f} tok/s, {f['cached']} cached", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _count_docs(args) -> int | None:
    from ..io.readers import read_documents

    try:
        return sum(b.num_rows for b in read_documents(args.data, fmt=args.fmt, text_column=args.text_column,
                                                      id_column=args.id_column, on_bad_record="skip"))
    except Exception:  # noqa: BLE001 - only for the ETA; the real read reports any problem
        return None


def run(args: argparse.Namespace) -> int:
    from ..passes.score import ScoreConfig, run_score
    from ..records import BadRecordLog, Report
    from ..report import phase, write_report
    from ._common import emit

    cfg = ScoreConfig(max_length=args.max_length, stride=args.stride, bos=args.bos, min_k=args.min_k,
                      batch_tokens=args.batch_tokens)
    report = Report(kind="score", config={"data": args.data, "model": args.model, "fit_on": args.fit_on,
                                          "device": args.device, "score": cfg.to_dict()})
    bad = BadRecordLog()
    prog = _Progress(args.quiet, None)
    if prog.on:
        prog.total = _count_docs(args)
    t0 = time.perf_counter()
    try:
        with phase(report, "model + scoring"):
            run_ = run_score(args.data, model=args.model, fit_on=args.fit_on, config=cfg, out_dir=args.out,
                             cache_dir=args.cache_dir, use_cache=not args.no_cache, device=args.device,
                             split=args.split, fmt=args.fmt, text_column=args.text_column, id_column=args.id_column,
                             on_bad_record=args.on_bad_record, bad_log=bad, progress=prog)
    finally:
        prog.close()
    pr = run_.to_pass_result()
    pr.apply_to(report)
    report.config["fit"] = run_.meta.get("fit")
    report.bad_records = bad.to_dict()
    if bad.count:
        report.warnings.append(f"{bad.count} bad record(s) skipped; see Bad records")
    write_report(report, args.out)
    s = run_.summary()
    m = run_.meta["model"]
    lines = [*run_.notes,
             f"model: {m['name']} ({m['kind']}), tokenizer {m['tokenizer']}",
             f"{s['docs']} docs ({s['docs_scored_now']} scored, {s['docs_from_cache']} from cache), "
             f"{s['tokens']} tokens, {s['bytes']} bytes in {time.perf_counter() - t0:.1f}s",
             f"perplexity (token-weighted) {s['ppl']:.4g}, bits per byte {s['bits_per_byte']:.4g}",
             f"scores: {args.out}/scores.parquet   report: {args.out}/report.md"]
    if bad.count:
        lines.append(f"bad records skipped: {bad.count} (located in report.json)")
    emit(report, args.format, lines)
    return 0
