"""Tiny Hugging Face models the tests build themselves (no hub download): one builder for every test file."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A journey of a thousand miles begins with a single step.",
    "To be or not to be, that is the question.",
    "All that glitters is not gold; all who wander are not lost.",
    "Colourless green ideas sleep furiously in the night.",
    "café naïve résumé — unicode text with accents and dashes",
] * 5


def build_tiny_gpt2(path: Path | str, corpus: Sequence[str] = CORPUS, *, n_positions: int = 32,
                    n_embd: int = 32, n_layer: int = 2, n_head: int = 2, vocab_size: int = 300) -> str:
    """A GPT-2 with random weights (seed 0) and a byte-level BPE trained on ``corpus``, saved with save_pretrained."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(list(corpus), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                     n_head=n_head, bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return str(path)
