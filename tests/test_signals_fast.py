"""The signals pass's vectorised paths equal the definitions they replace (word tokens per line, the n-gram
hash), on varied text: hand cases, Unicode whitespace and line breaks, and generated strings."""

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.passes.signals.batch import _tokenize
from dataaudit.passes.signals.chars import _BASE, _poly_hash
from dataaudit.passes.signals.tokens import line_tokens, splitlines

CASES = [
    "First Citizen: it's 3.5 km... U.S. e-mail!", "Don't stop, I'll go; they're here. cannot Cannot CANNOT",
    "CANNOT alone", "CANNOT Cannot.",
    "mayor,-- sent--  'tis daub'd", "see https://example.com/a?b=1 and www.x.org. Mr. Smith, Dr. Who",
    "a @-@ b @.@ c @,@ d", "\u00a0lead\u2003em\u3000ideo\x1fus\x85nel\u2028ls\u2029ps\x0bvt\x0cff\rcr\r\nend",
    "", "   ", "\t\t", "x", "1,000.50 $5 5% +3 (a) [b] {c} <d> 'e' \"f\"", "--- *** ... … ___ \\\\ || ~~ ••",
    "caf\u00e9 na\u00efve \u0645\u0631\u062d\u0628\u0627 \u4f60\u597d \U0001f600 e\u0301", "it’s don’t ’em 're",
    "### Title\n- bullet one\n• bullet two\n\n\nend...", "a" * 300 + " " + "b" * 50,
]

PIECES = ["CANNOT", "cannot", "Cannot", "annot", "it's", "U.S.", "http://a.b/c", "@-@", "3.5", "...", "--"] + \
    list("ab cA.,'’-/\\:;!?()[]$%#@0 19\n\r\t\u00a0\u2028\x1f\x85é…•_+=")
TEXT = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


def _per_line(texts):
    lines, off = splitlines(pa.array(texts, pa.large_string()))
    tok, line_tok_off = _tokenize(lines, off)
    got = [[tok.vocab[i] for i in tok.tid[a:b]] for a, b in zip(line_tok_off[:-1], line_tok_off[1:])]
    want = [line_tokens(s) for s in lines.to_pylist()]
    return got, want, tok, off


def test_batch_tokens_equal_line_tokens_on_hand_cases():
    got, want, tok, off = _per_line(CASES)
    assert got == want
    assert len(tok.vocab) == len(set(tok.vocab))                # one id per distinct token
    assert tok.doc_off[-1] == len(tok.tid) and len(tok.doc_off) == len(CASES) + 1


@settings(max_examples=300, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=8))
def test_batch_tokens_equal_line_tokens_on_generated_text(texts):
    got, want, tok, _ = _per_line(texts)
    assert got == want
    doc_tokens = [[tok.vocab[i] for i in tok.tid[a:b]] for a, b in zip(tok.doc_off[:-1], tok.doc_off[1:])]
    assert doc_tokens == [[t for line in s.splitlines() for t in line_tokens(line)] for s in texts]


def _naive_hash(c, n):
    m = len(c) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _BASE + c[k:k + m]
    return h


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 0x10FFFF), min_size=16, max_size=80), st.integers(1, 16))
def test_doubling_hash_equals_the_multiply_add_loop(cps, n):
    c = np.array(cps, dtype=np.uint64)
    with np.errstate(over="ignore"):
        assert np.array_equal(_poly_hash(c, n), _naive_hash(c, n))


def _ref_ngrams(toks, n):
    """Gopher top / duplicate n-gram characters, written out plainly for tokens joined by single spaces: top,
    the characters inside the occurrences of the first most frequent n-gram (datatrove's choice), each once
    (None with no n-gram); dup, datatrove's loop (tuples, one pass)."""
    grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
    top = None
    if grams:
        counts = {}
        for g in grams:
            counts[g] = counts.get(g, 0) + 1
        best = max(counts.values())
        g = next(g for g in grams if counts[g] == best)
        start = [sum(len(t) + 1 for t in toks[:i]) for i in range(len(toks))]
        covered = set()
        for i, x in enumerate(grams):
            if x == g:
                covered |= set(range(start[i], start[i + n - 1] + len(toks[i + n - 1])))
        top = len(covered)
    dup, seen, i = 0, set(), 0
    while i < len(grams):
        if grams[i] in seen:
            dup += sum(map(len, grams[i]))
            i += n
        else:
            seen.add(grams[i])
            i += 1
    return top, dup


WORDS = st.lists(st.sampled_from(["a", "bb", "the", "cat", "sat", ".", "on", "mat", "x"]), max_size=70)


@settings(max_examples=150, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=6))
def test_ngram_repetition_equals_the_plain_definition(docs):
    from dataaudit.passes.signals import compute_signals_batch
    from dataaudit.passes.signals.tokens import word_tokens
    from dataaudit.records import DOC_SCHEMA

    texts = [" ".join(w) for w in docs]
    rows = compute_signals_batch(pa.RecordBatch.from_pylist(
        [{"doc_id": str(i), "split": "s", "text": t, "source": "s", "row": i} for i, t in enumerate(texts)],
        schema=DOC_SCHEMA)).to_pylist()
    for t, r in zip(texts, rows):
        toks = word_tokens(t)
        for n in range(2, 11):
            top, dup = _ref_ngrams(toks, n)
            for kind, v in (("top", top), ("dup", dup)):
                col = f"gopher_{kind}_{n}gram_char_frac"
                if col in r:
                    assert r[col] == (v / len(t) if t and v is not None else None), (col, t)
