"""The byte-level default's network: a hashed n-gram neural LM over bytes, with a word context and match
(copy) features, built from a ``ByteLMConfig`` (``bytelm.py``), and the vectorized hashing it needs."""

from __future__ import annotations

import numpy as np

BOS = 256     # the token before every document
VOCAB = 257   # 256 bytes + BOS

_P = 2_147_483_647   # 2^31 - 1: rolling hashes stay below it, so int64 products never overflow


_BASE = 263           # rolling-hash base (a prime above the 258 byte symbols)
_SEP = (32, 10, 9, BOS, VOCAB)   # bytes that end a word for the word context (space, newline, tab, BOS, pad)


def _prev_occurrence(key):
    """For a (B, T) int64 key, the flat index of the latest earlier position of the same row with the same
    key, or -1. Vectorized: a stable sort by (row, key) puts equal keys of a row next to each other in
    position order, so each one's predecessor in the sorted order is its previous occurrence."""
    import torch

    B, T = key.shape
    k = (key * B + torch.arange(B, device=key.device)[:, None]).reshape(-1)
    vals, order = torch.sort(k, stable=True)
    prev = torch.full_like(k, -1)
    same = vals[1:] == vals[:-1]
    prev[order[1:]] = torch.where(same, order[:-1], torch.full_like(order[:-1], -1))
    return prev


def _follower(key, ids):
    """For each position, the byte that followed the latest earlier position of its row with the same key
    (the match model's prediction), or VOCAB where the key has not occurred before."""
    import torch

    prev = _prev_occurrence(key)
    flat = ids.reshape(-1)
    nxt = flat[(prev + 1).clamp(max=flat.numel() - 1)]
    return torch.where(prev >= 0, nxt, torch.full_like(nxt, VOCAB)).reshape(ids.shape)


_GLEN_SCALE = 16.0   # the length bonus is stored / 16: Adam moves a weight by about lr a step, and a long
# repeat needs a bonus of ~10 logits within 300 steps at lr 3e-3
_NLEN = 8   # match-length buckets: 0, 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64+


def _run_bucket(pred, ids):
    """For each position, log2-bucket of how many consecutive bytes up to and including it the match
    prediction got right (PAQ's match length): pred[t - 1] == ids[t]. Causal: uses bytes <= t only."""
    import torch

    B, T = ids.shape
    ok = torch.zeros_like(ids, dtype=torch.bool)
    ok[:, 1:] = pred[:, :-1] == ids[:, 1:]
    idx = torch.arange(T, device=ids.device).expand(B, T)
    last_bad = torch.cummax(torch.where(ok, torch.full_like(idx, -1), idx), dim=1).values
    run = idx - last_bad                       # 0 when this byte was not predicted
    return torch.where(run > 0, torch.floor(torch.log2(run.clamp(min=1).double())).long() + 1,
                       torch.zeros_like(run)).clamp(max=_NLEN - 1)


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """base^i and base^-i mod p for i < n (grown by doubling and kept, so each call is a slice)."""
    global _POW
    if _POW is None or len(_POW[0]) < n:
        m = max(n, 2 * len(_POW[0]) if _POW is not None else 4096)
        pw = np.ones(m, dtype=np.int64)
        inv = np.ones(m, dtype=np.int64)
        ib = pow(_BASE, _P - 2, _P)          # Fermat inverse of the base
        for i in range(1, m):
            pw[i] = pw[i - 1] * _BASE % _P
            inv[i] = inv[i - 1] * ib % _P
        _POW = (pw, inv)
    return _POW


_POW: tuple[np.ndarray, np.ndarray] | None = None


def _word_hash(x, K: int, T: int, history: int = 0, trigram: bool = False):
    """Hash of (previous word, current partial word) at every position of the padded rows ``x`` (B, K + T),
    then the hashes of the last ``history`` whole words on their own (1 = the previous word), then with
    ``trigram`` the hash of (the two previous words, current partial word); vectorized with prefix hashes:
    segment a..b hashes as (P[b] - P[a-1]) * base^-a mod p."""
    import torch

    B, L = x.shape
    dev = x.device
    pw, inv = _powers(L + 1)
    pw_t, inv_t = torch.from_numpy(pw[:L]).to(dev), torch.from_numpy(inv[:L + 1]).to(dev)
    pre = torch.cumsum((x + 1) * pw_t % _P, dim=1) % _P            # P[i] over bytes 0..i
    pre = torch.cat([torch.zeros(B, 1, dtype=x.dtype, device=dev), pre], 1)   # pre[i + 1] = P[i]
    idx = torch.arange(L, device=dev).expand(B, L)
    sep = torch.zeros_like(x, dtype=torch.bool)
    for c in _SEP:
        sep |= x == c
    last = torch.cummax(torch.where(sep, idx, torch.full_like(idx, -1)), dim=1).values   # last sep <= i
    before = torch.cat([torch.full((B, 1), -1, dtype=idx.dtype, device=dev), last[:, :-1]], 1)  # < i

    def seg(a, b):   # hash of bytes a..b (a may be b + 1: empty), a >= 0
        h = (pre.gather(1, b + 1) - pre.gather(1, a)) % _P
        return h * inv_t[a] % _P

    cur_a = last + 1                                     # current partial word: last sep + 1 .. i
    ls = last.clamp(min=0)
    prev_b = last - 1                                   # previous word ends just before that separator
    prev_a = before.gather(1, ls) + 1                   # and starts after the separator before it
    cur = seg(cur_a, idx)                                # empty (0) right after a separator
    prv = seg(prev_a, prev_b)                            # the K left pads are separators, so last >= 0
    out = [((cur * 1_000_003 + prv * 7 + 5) % _P)[:, K:]]
    end_sep = last                                       # the separator after word j (j = 1: prev word)
    words = []
    for j in range(1, max(history, 2 if trigram else 0) + 1):
        es = end_sep.clamp(min=0)
        start_sep = before.gather(1, es)                 # the separator before word j
        a = (start_sep + 1).clamp(min=0)
        b = torch.maximum(end_sep - 1, a - 1)            # empty when separators are adjacent or run out
        words.append(seg(a, b))
        if j <= history:
            out.append(((words[-1] * 2_654_435 + j * 97 + 11) % _P)[:, K:])
        end_sep = start_sep
    if trigram:   # (word 2, word 1, current partial word): a word trigram context, its own salt
        out.append(((((cur * 1_000_033 + words[0]) % _P) * 9_999_991 + words[1] * 13 + 17) % _P)[:, K:])
    # the word-match key: the partial word where there is one, else the previous word (tagged apart)
    key = torch.where(cur != 0, cur * 3 + 1, prv * 3 + 2)[:, K:]
    return out, key


def _build(cfg):
    """A hashed n-gram neural LM over bytes, with a word context and match (copy) features.

    Position t is described by embeddings of its last 1..``orders`` bytes: order 1 exact (258 rows: bytes,
    BOS, "before the window"), orders >= 2 and ``long_orders`` through a rolling hash into one shared table
    (the hashing trick, Weinberger et al. 2009), plus a hashed (previous word, current partial word)
    context and each of the last ``word_history`` whole words on its own; concatenated and mixed by a
    two-layer MLP (a neural n-gram model as in Bengio et al. 2003; hashed contexts as in PAQ-style context
    mixing). Match features (PAQ's match model; the copy idea of Grave et al. 2017's neural cache): for
    each k in ``match_orders``, the byte that followed the latest earlier occurrence in the window of the
    last k bytes, and with ``word_match`` the byte that followed the latest earlier occurrence of the
    current partial word (of the previous word right after a separator), each found with one sort, is
    embedded into the MLP's input and also gets a learned logit bonus. Everything a position sees is at or
    before it, so scoring is causal, and padding on the right can never leak into a real position.
    """
    import torch
    from torch import nn
    from torch.nn import functional as F

    n_m = len(cfg.match_orders) + int(cfg.word_match)
    hashed = list(range(2, cfg.orders + 1)) + [k for k in cfg.long_orders if k > cfg.orders]
    span = max([cfg.orders, *cfg.long_orders, *cfg.match_orders])

    class HashedNGramLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.e1 = nn.Embedding(VOCAB + 1, cfg.d_embed)
            self.eh = nn.Embedding(cfg.buckets, cfg.d_embed)
            nn.init.normal_(self.eh.weight, std=0.01)
            self.em = nn.Embedding(max(n_m, 1) * (VOCAB + 1), cfg.d_embed)
            self.eml = nn.Embedding(max(n_m, 1) * _NLEN, cfg.d_embed)   # how long each match has been right
            width = (1 + len(hashed) + int(cfg.word_context) + cfg.word_history + int(cfg.word_trigram)
                     + n_m) * cfg.d_embed
            self.ln = nn.LayerNorm(width)
            self.fc1 = nn.Linear(width, cfg.d_hidden)
            self.fc2 = nn.Linear(cfg.d_hidden, cfg.d_hidden)
            self.head = nn.Linear(cfg.d_hidden, VOCAB)
            self.gate = nn.Linear(cfg.d_hidden, max(n_m, 1))   # logit bonus of each match's predicted byte
            # plus a bonus by match length alone, so a long exact repeat of unfamiliar bytes (a run of "*")
            # is trusted even where the MLP has never seen the context
            self.glen = nn.Embedding(max(n_m, 1) * _NLEN, 1)
            nn.init.zeros_(self.glen.weight)

        def hidden(self, ids):
            """(B, T) -> (B, T, d_hidden + 2 n_match): the MLP state, then each match's predicted byte
            (VOCAB = no match) and its length bucket, as floats (exact below 2^24), which ``logits`` needs."""
            B, T = ids.shape
            K = span
            x = torch.cat([torch.full((B, K), VOCAB, dtype=ids.dtype, device=ids.device), ids], 1)
            hidx = []                      # one lookup per table (one dense gradient each, not one per order)
            h = torch.zeros_like(ids)
            preds = []
            for j in range(K):             # ids[t - j] is x[K + t - j]; after step j, h covers bytes t-j .. t
                h = (h * _BASE + x[:, K - j:K - j + T] + 1) % _P
                n = j + 1
                if n in hashed:
                    hidx.append((h * (n + 7919)) % _P % cfg.buckets)
                if n in cfg.match_orders:
                    preds.append(_follower(h, ids) + len(preds) * (VOCAB + 1))
            if cfg.word_context or cfg.word_history or cfg.word_match or cfg.word_trigram:
                wh, wkey = _word_hash(x, K, T, cfg.word_history, cfg.word_trigram)
                if cfg.word_match:
                    preds.append(_follower(wkey, ids) + len(preds) * (VOCAB + 1))
                if not cfg.word_context:
                    wh = wh[1:]
                hidx += [w * 15485863 % _P % cfg.buckets for w in wh]
            feats = [self.e1(ids)]
            if hidx:
                feats.append(self.eh(torch.stack(hidx, -1)).reshape(B, T, -1))
            if preds:
                preds = [p - i * (VOCAB + 1) for i, p in enumerate(preds)]
                lens = [_run_bucket(p, ids) + i * _NLEN for i, p in enumerate(preds)]
                pi = torch.stack([p + i * (VOCAB + 1) for i, p in enumerate(preds)], -1)
                feats.append((self.em(pi) + self.eml(torch.stack(lens, -1))).reshape(B, T, -1))
            z = F.gelu(self.fc1(self.ln(torch.cat(feats, -1))))
            z = z + F.gelu(self.fc2(z))
            if not preds:
                return z
            return torch.cat([z, torch.stack(preds, -1).to(torch.float32),
                              torch.stack(lens, -1).to(torch.float32)], -1)

        def logits(self, h):
            z = h[..., :cfg.d_hidden]
            out = self.head(z)
            if not n_m:
                return out
            pred = h[..., cfg.d_hidden:cfg.d_hidden + n_m].round().long()
            lens = h[..., cfg.d_hidden + n_m:].round().long()
            bonus = self.gate(z) + _GLEN_SCALE * self.glen(lens).squeeze(-1)
            pad = torch.zeros(*out.shape[:-1], 1, dtype=out.dtype, device=out.device)   # VOCAB = no match
            out = torch.cat([out, pad], -1).scatter_add(-1, pred, bonus.to(out.dtype))
            return out[..., :VOCAB]

    return HashedNGramLM()
