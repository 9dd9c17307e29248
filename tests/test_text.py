import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.errors import ConfigError
from dataaudit.text import NormalizeConfig, normalize, normalize_array, normalized_bytes, reference_normalize_array


@pytest.mark.parametrize("raw, want", [
    ("  Hello,\tWORLD!  ", "hello world"),
    ("\ufb01ne caf\u00e9", "fine café"),
    ("ＡＢＣ\u00a0123", "abc 123"),
    ("cafe\u0301", "café"),                      # combining accent composes under NFKC
    ("line\r\nbreak\u2028sep\u3000wide", "line break sep wide"),
    ("end.Start", "end start"),
    ("“quoted” — dash", "quoted dash"),
    ("$5 + 3 = 8", "$5 + 3 = 8"),                # symbols are not punctuation
    ("", ""),
    ("...", ""),
])
def test_normalize_hand_cases(raw, want):
    assert normalize(raw) == want


def test_options():
    assert normalize("Call 555-0199", NormalizeConfig(digits=True)) == "call 000 0000"
    assert normalize("Keep, Case!", NormalizeConfig(lower=False)) == "Keep Case"
    assert normalize("a,  b", NormalizeConfig(whitespace=False)) == "a   b"
    assert normalize("ＡＢＣ", NormalizeConfig(nfkc=False)) == "ａｂｃ"
    with pytest.raises(ConfigError, match="unknown normalization"):
        NormalizeConfig.from_dict({"lowercase": True})


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
# text mixing ASCII with the code points where per-character normalization could go wrong
tricky = st.text(alphabet=st.sampled_from(list("aZ .,-!\t\n9") + [
    "\u0301", "\u0327", "\u00e9", "\u00c9", "\ufb01", "\u2474", "\ufdfa", "\u00a0", "\u2028", "\u3000",
    "\u03a3", "\u0130", "\uac00", "\u1100", "\u1161", "\u11a8", "\u0b47", "\u0b3e", "\U0001f600",
    "\uff21", "\u00bd", "\u2163", "\u212b", "\u0345", "\u1e9e", "\u00df", "\u0387", "\u037e", "\u2019"]),
    max_size=40)
ascii_texts = st.text(alphabet=st.characters(max_codepoint=127), max_size=60)
configs = st.builds(NormalizeConfig, nfkc=st.booleans(), lower=st.booleans(), punctuation=st.booleans(),
                    digits=st.booleans(), whitespace=st.booleans())


@settings(max_examples=300, deadline=None)
@given(texts)
def test_idempotent(t):
    once = normalize(t)
    assert normalize(once) == once


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(texts, ascii_texts, tricky), max_size=12), configs)
def test_fast_path_equals_reference(items, cfg):
    arr = pa.array(items, pa.large_string())
    ref = [s.encode() for s in reference_normalize_array(arr, cfg).to_pylist()]
    assert normalized_bytes(arr, cfg) == ref
    assert normalize_array(arr, cfg).to_pylist() == reference_normalize_array(arr, cfg).to_pylist()


@settings(max_examples=100, deadline=None)
@given(st.lists(texts, min_size=1, max_size=30), st.integers(1, 7))
def test_stable_under_batch_size(items, size):
    whole = normalized_bytes(pa.array(items, pa.string()))
    parts = []
    for i in range(0, len(items), size):
        parts += normalized_bytes(pa.array(items[i:i + size], pa.string()))
    assert parts == whole


@pytest.mark.parametrize("raw", ["e\u0301", "\uac00\u11a8", "\u1100\u1161", "A\u0b47\u0b3e", "\u2474x",
                                 "\ufdfa", "\u03a3\u03a3", "\u0130", "x\U0001f600y", "\u212b", "a \u0345"])
def test_fast_path_hand_cases(raw):
    for cfg in (NormalizeConfig(), NormalizeConfig(whitespace=False), NormalizeConfig(lower=False, digits=True)):
        arr = pa.array([raw, "plain " + raw + " text"], pa.large_string())
        assert normalized_bytes(arr, cfg) == [s.encode() for s in reference_normalize_array(arr, cfg).to_pylist()]


def test_nulls_and_sliced_arrays():
    arr = pa.array(["X", None, "  Y  ", "Z"], pa.large_string()).slice(1)
    assert normalized_bytes(arr) == [b"", b"y", b"z"]


def test_accelerator_is_built_and_fallback_agrees(monkeypatch):
    import dataaudit.text as T

    assert T._fast is not None, "the C accelerator was not built (pip install -e . needs a C compiler)"
    arr = pa.array(["Ünïcode ﬁne", "  ASCII, text ", "e\u0301", None], pa.large_string())
    fast = normalized_bytes(arr)
    monkeypatch.setattr(T, "_fast", None)
    assert normalized_bytes(arr) == fast == [b"\xc3\xbcn\xc3\xafcode fine", b"ascii text", b"\xc3\xa9", b""]


def test_normalize_array_keeps_nulls_and_type():
    arr = pa.array(["A,b", None, "e\u0301  X"], pa.string())
    out = normalize_array(arr)
    assert out.type == pa.large_string()
    assert out.to_pylist() == reference_normalize_array(arr).to_pylist() == ["a b", None, "é x"]
