import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dataaudit.errors import ConfigError
from dataaudit.text import NormalizeConfig, normalize, normalize_array, normalized_bytes


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
ascii_texts = st.text(alphabet=st.characters(max_codepoint=127), max_size=60)
configs = st.builds(NormalizeConfig, nfkc=st.booleans(), lower=st.booleans(), punctuation=st.booleans(),
                    digits=st.booleans(), whitespace=st.booleans())


@settings(max_examples=300, deadline=None)
@given(texts)
def test_idempotent(t):
    once = normalize(t)
    assert normalize(once) == once


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(texts, ascii_texts), max_size=12), configs)
def test_fast_path_equals_reference(items, cfg):
    arr = pa.array(items, pa.large_string())
    ref = [s.encode() for s in normalize_array(arr, cfg).to_pylist()]
    assert normalized_bytes(arr, cfg) == ref


@settings(max_examples=100, deadline=None)
@given(st.lists(texts, min_size=1, max_size=30), st.integers(1, 7))
def test_stable_under_batch_size(items, size):
    whole = normalized_bytes(pa.array(items, pa.string()))
    parts = []
    for i in range(0, len(items), size):
        parts += normalized_bytes(pa.array(items[i:i + size], pa.string()))
    assert parts == whole


def test_nulls_and_sliced_arrays():
    arr = pa.array(["X", None, "  Y  ", "Z"], pa.large_string()).slice(1)
    assert normalized_bytes(arr) == [b"", b"y", b"z"]
