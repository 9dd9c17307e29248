"""Hugging Face checkpoints that must be refused with a one-line ModelError, and the ones that must load."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from dataaudit.errors import ModelError  # noqa: E402
from dataaudit.model import load_model  # noqa: E402


@pytest.fixture(scope="module")
def gpt2_dir(gpt2_dir):
    """conftest's tiny GPT-2, as a Path."""
    return Path(gpt2_dir)


def _copy_tokenizer(src: Path, dst: Path) -> None:
    for f in src.iterdir():
        if f.name.startswith(("tokenizer", "special_tokens", "vocab", "merges")):
            shutil.copy(f, dst / f.name)


def _refused(path, *needles: str) -> str:
    with pytest.raises(ModelError) as e:
        load_model(str(path), device="cpu")
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400, msg
    for n in needles:
        assert n in msg, msg
    return msg


def test_bert_model_saved_without_tokenizer_is_refused(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                         vocab_size=100)).save_pretrained(tmp_path)
    _refused(tmp_path, "BertModel", "not a causal language model")


def test_bert_lm_head_that_sees_later_tokens_is_refused(tmp_path, gpt2_dir):
    """A BertLMHeadModel without is_decoder loads through AutoModelForCausalLM, with all its weights, but
    attends both ways: its 'perplexity' reads the answer. The causality probe refuses it."""
    from transformers import BertConfig, BertLMHeadModel

    torch.manual_seed(0)
    BertLMHeadModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                               vocab_size=300, is_decoder=False)).save_pretrained(tmp_path)
    _copy_tokenizer(gpt2_dir, tmp_path)
    _refused(tmp_path, "not causal")


def test_checkpoint_missing_its_lm_head_is_refused(tmp_path, gpt2_dir):
    from safetensors.torch import load_file, save_file
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=300, n_positions=32, n_embd=32, n_layer=1, n_head=2, tie_word_embeddings=False)
    GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    assert "lm_head.weight" in weights          # untied: the head is its own tensor
    del weights["lm_head.weight"]
    save_file(weights, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    _copy_tokenizer(gpt2_dir, tmp_path)
    _refused(tmp_path, "missing", "lm_head.weight")


def test_gpt2_with_its_head_tied_to_the_embeddings_loads(gpt2_dir):
    m = load_model(str(gpt2_dir), device="cpu")
    from safetensors.torch import load_file

    assert "lm_head.weight" not in load_file(str(gpt2_dir / "model.safetensors"))   # tied: not stored
    assert m.model.lm_head.weight.data_ptr() == m.model.transformer.wte.weight.data_ptr()


def test_the_fingerprint_does_not_depend_on_how_the_path_is_spelled(gpt2_dir, monkeypatch):
    """The score cache and the workers' check that the model did not change key on the fingerprint: the same
    directory given as ``m``, ``./m/`` or ``/abs/m`` (a worker of a Ray cluster gets the absolute path) is the
    same model. transformers records the path in the config (``_name_or_path``); it is left out."""
    monkeypatch.chdir(gpt2_dir.parent)
    spelled = [str(gpt2_dir), gpt2_dir.name, f"./{gpt2_dir.name}/"]
    models = [load_model(p, device="cpu") for p in spelled]
    assert len({m.fingerprint for m in models}) == 1
    assert len({m.tokenizer_id for m in models}) == 1
    monkeypatch.chdir(gpt2_dir)
    assert load_model(".", device="cpu").tokenizer_id == models[0].tokenizer_id


def test_model_dir_without_tokenizer_files_is_refused(tmp_path, gpt2_dir):
    for f in gpt2_dir.iterdir():
        if f.name in ("config.json", "model.safetensors", "generation_config.json"):
            shutil.copy(f, tmp_path / f.name)
    _refused(tmp_path, "no tokenizer files", "tokenizer.save_pretrained")


def test_missing_path_says_does_not_exist_even_without_transformers(tmp_path, monkeypatch):
    for mod in [m for m in sys.modules if m == "transformers" or m.startswith("transformers.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "transformers", None)     # a plain install: import fails
    msg = _refused(tmp_path / "no-such-model", "does not exist")
    assert "transformers" not in msg
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    _refused(tmp_path / "m", "needs transformers", "pip install")
