"""Data-order readers: spec parsing, manifest, HF Trainer replay, OLMo, Megatron (good and bad files)."""

import gzip
import json
import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataaudit.config import ReadConfig
from dataaudit.errors import ConfigError, InputError
from dataaudit.forensics.order import open_order, parse_order
from dataaudit.forensics.order.megatron import HEADER, MegatronOrder
from dataaudit.forensics.order.olmo import OlmoOrder
from dataaudit.forensics.order.sampler import TrainerOrder

# Recorded from a real transformers 5.24.0 / accelerate 1.15.0 Trainer (CPU): 21 rows, per-device batch 4,
# gradient_accumulation_steps=2, 2 epochs, seed=42, with dataaudit.forensics.record.recording_trainer.
# Step 3 holds 5 rows: an epoch ends with a short step; steps never straddle epochs.
TRAINER_21_B4_A2_SEED42 = {1: [15, 8, 13, 7, 11, 12, 16, 19], 2: [2, 14, 4, 0, 20, 10, 1, 3], 3: [6, 5, 18, 9, 17],
                           4: [10, 9, 4, 16, 6, 15, 2, 12], 5: [14, 3, 5, 11, 18, 19, 20, 13], 6: [17, 8, 7, 1, 0]}


def _corpus(tmp_path, n=30):
    p = tmp_path / "train.jsonl"
    p.write_text("".join(json.dumps({"id": f"d{i}", "text": f"document number {i}"}) + "\n" for i in range(n)))
    return p


# -- spec parsing ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, msg", [
    ("sampler", "expected KIND"), ("shuffle:seed=1", "unknown kind"), ("sampler:seed=1,batch", "not key=value"),
    ("sampler:seed=x,batch=2", "not an integer"), ("manifest:", "needs a path"),
])
def test_bad_specs_are_config_errors(spec, msg):
    with pytest.raises(ConfigError, match=msg):
        open_order(parse_order(spec), data=None)


def test_sampler_needs_seed_and_batch(tmp_path):
    with pytest.raises(ConfigError, match="seed= is required"):
        open_order("sampler:batch=4", data=_corpus(tmp_path))
    with pytest.raises(ConfigError, match="unknown setting"):
        open_order("sampler:seed=1,batch=4,shuffle=1", data=_corpus(tmp_path))


# -- sampler / sequential -----------------------------------------------------------------------------------

def test_sampler_matches_recorded_trainer_order():
    o = TrainerOrder(n=21, batch=4, accum=2, seed=42, epochs=2)
    assert {s: o.step_indices(s).tolist() for s in range(1, 7)} == TRAINER_21_B4_A2_SEED42
    with pytest.raises(InputError, match="past the end of the order"):
        o.indices([7])


def test_sampler_each_epoch_is_a_permutation_and_drop_last():
    o = TrainerOrder(n=23, batch=3, accum=2, seed=5, drop_last=True)
    assert o.steps_per_epoch == 4                       # 7 full micro-batches -> 4 steps, the last of 1
    ep = np.concatenate([o.step_indices(s) for s in range(1, 5)])
    assert ep.size == 21 and len(set(ep.tolist())) == 21
    assert o.step_indices(5).tolist() != o.step_indices(1).tolist()   # epoch 1 reshuffles (seed + 1)


def test_sequential_and_text_fetch(tmp_path):
    o = open_order("sequential:batch=4", data=_corpus(tmp_path), read=ReadConfig(id_column="id"))
    got = o.pieces([2, 8])
    assert [p.placement.doc_id for p in got[2]] == ["d4", "d5", "d6", "d7"]
    assert got[8][0].text == "document number 28" and len(got[8]) == 2   # 30 docs: step 8 is short


def test_sampler_refuses_skipped_bad_records(tmp_path):
    with pytest.raises(ConfigError, match="shift"):
        open_order("sampler:seed=1,batch=4", data=_corpus(tmp_path), read=ReadConfig(on_bad_record="skip"))


def test_real_trainer_replay_step_for_step(tmp_path):
    """The replay against a live Trainer run (needs accelerate; the recorded case above always runs)."""
    pytest.importorskip("accelerate")
    torch = pytest.importorskip("torch")
    from transformers import GPT2Config, GPT2LMHeadModel, TrainingArguments

    from dataaudit.forensics.record import recording_trainer

    class DS(torch.utils.data.Dataset):
        def __len__(self):
            return 37

        def __getitem__(self, i):
            return {"idx": i, "input_ids": [i % 50 + 1] * 4}

    def coll(rows):
        ids = torch.tensor([r["input_ids"] for r in rows])
        return {"input_ids": ids, "labels": ids, "idx": torch.tensor([r["idx"] for r in rows])}

    for accum, drop in ((2, False), (1, True)):
        model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=64, n_positions=8))
        args = TrainingArguments(output_dir=str(tmp_path / "o"), per_device_train_batch_size=4,
                                 gradient_accumulation_steps=accum, num_train_epochs=3, seed=42, logging_steps=1,
                                 save_strategy="no", report_to=[], remove_unused_columns=False, use_cpu=True,
                                 dataloader_drop_last=drop, disable_tqdm=True)
        tr = recording_trainer()(model=model, args=args, train_dataset=DS(), data_collator=coll)
        tr.train()
        o = TrainerOrder(n=37, batch=4, accum=accum, seed=42, drop_last=drop, epochs=3)
        assert tr.order_recorder.steps == {s: o.step_indices(s).tolist() for s in range(1, o.last_step() + 1)}
        man = tr.order_recorder.write_manifest(tmp_path / f"m{accum}.jsonl")
        m = open_order(f"manifest:{man}")
        assert [p.placement.sample_id for p in m.pieces([5])[5]] == o.step_indices(5).tolist()


# -- manifest -----------------------------------------------------------------------------------------------

def test_manifest_jsonl_csv_parquet(tmp_path):
    data = _corpus(tmp_path)
    j = tmp_path / "m.jsonl"
    j.write_text('{"step": 1, "doc_ids": ["d3", "d1"]}\n{"step": 2, "sample_ids": [7]}\n')
    o = open_order(f"manifest:{j}", data=data, read=ReadConfig(id_column="id"))
    got = o.pieces([1, 2])
    assert [(p.placement.doc_id, p.placement.dataset_index) for p in got[1]] == [("d3", 3), ("d1", 1)]
    assert got[2][0].placement.doc_id == "d7" and got[2][0].text == "document number 7"
    c = tmp_path / "m.csv"
    c.write_text("step,doc_id\n4,d2\n4,d9\n5,d0\n")
    assert [p.placement.doc_id for p in open_order(f"manifest:{c}").pieces([4])[4]] == ["d2", "d9"]
    q = tmp_path / "m.parquet"
    pq.write_table(pa.table({"step": [3, 3], "doc_id": ["d5", "d6"]}), q)
    assert open_order(f"manifest:{q}").last_step() == 3


@pytest.mark.parametrize("content, msg", [
    ('{"step": 1, "doc_ids": ["a"]}\n{"step": 1, "doc_ids": ["b"]}\n', "already listed on line 1"),
    ('{"step": 1, "doc_ids": ["a"]}\n{"step": 2, "doc\n', ":2: not valid JSON"),
    ('{"doc_ids": ["a"]}\n', 'no integer "step"'),
    ('{"step": 1, "ids": ["a"]}\n', 'no "doc_ids" or "sample_ids"'),
])
def test_manifest_bad_files(tmp_path, content, msg):
    p = tmp_path / "m.jsonl"
    p.write_text(content)
    with pytest.raises(InputError, match=msg):
        open_order(f"manifest:{p}").pieces([1])


def test_manifest_missing_step_and_unknown_doc(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"step": 1, "doc_ids": ["nope"]}\n')
    with pytest.raises(InputError, match="step 9 is not in the manifest"):
        open_order(f"manifest:{p}").pieces([9])
    with pytest.raises(InputError, match="'nope'.*not found in --data"):
        open_order(f"manifest:{p}", data=_corpus(tmp_path), read=ReadConfig(id_column="id")).pieces([1])


# -- OLMo ---------------------------------------------------------------------------------------------------

EOS = 0


def _olmo_files(tmp_path, with_meta=False):
    """Two token files as OLMo writes them (raw uint16 memmaps), documents ending in EOS."""
    rng = np.random.default_rng(0)
    files, docs = [], []
    for f in range(2):
        toks, meta, pos = [], [], 0
        for d in range(12):
            n = int(rng.integers(3, 15))
            doc = list(rng.integers(1, 500, size=n)) + [EOS]
            meta.append(f"{pos},{pos + len(doc)},orig-{f}-{d},src,loc")
            docs.append((f, pos, len(doc)))
            toks += doc
            pos += len(doc)
        path = tmp_path / f"part-{f}.npy"
        mm = np.memmap(path, dtype=np.uint16, mode="w+", shape=(len(toks),))
        mm[:] = toks
        mm.flush()
        if with_meta:
            with gzip.open(tmp_path / f"part-{f}.csv.gz", "wt") as g:
                g.write("\n".join(meta) + "\n")
        files.append(path)
    return files


def _global_indices(tmp_path, n_inst, steps=3, batch=2):
    gi = tmp_path / "global_indices.npy"
    mm = np.memmap(gi, dtype=np.uint32, mode="w+", shape=(steps * batch,))
    mm[:] = np.random.default_rng(1).permutation(n_inst)[: steps * batch]
    mm.flush()
    return gi


@pytest.mark.parametrize("with_meta", [False, True])
def test_olmo_instances_split_at_documents(tmp_path, with_meta):
    files = _olmo_files(tmp_path, with_meta)
    seq = 16
    counts = [np.memmap(f, dtype=np.uint16, mode="r").size // seq for f in files]
    gi = _global_indices(tmp_path, sum(counts))
    o = open_order(f"olmo:{gi},batch=2,seq={seq},eos={EOS}", data=files)
    got = o.pieces([2])[2]
    insts = np.memmap(gi, dtype=np.uint32, mode="r")[2:4].tolist()
    assert sorted({p.placement.sample_id for p in got}) == sorted(insts)
    for inst in insts:
        ps = [p.placement for p in got if p.placement.sample_id == inst]
        assert ps[0].token_start == 0 and ps[-1].token_end == seq
        assert all(a.token_end == b.token_start for a, b in zip(ps, ps[1:]))
        fi = 0 if inst < counts[0] else 1
        toks = np.memmap(files[fi], dtype=np.uint16, mode="r")
        base = (inst - (0 if fi == 0 else counts[0])) * seq
        for p in ps[:-1]:
            assert toks[base + p.token_end - 1] == EOS       # every piece but the last ends at an EOS
        for p in ps:
            start = base + p.token_start - p.doc_token_start    # the document's first token
            assert start == 0 or toks[start - 1] == EOS
            if with_meta:
                assert p.doc_id.startswith(f"orig-{fi}-")
            else:
                assert p.doc_id == f"part-{fi}@{start}"


def test_olmo_bad_files(tmp_path):
    files = _olmo_files(tmp_path)
    gi = _global_indices(tmp_path, 10)
    with pytest.raises(InputError, match="past the end of the order"):
        open_order(f"olmo:{gi},batch=2,seq=16,eos=0", data=files).pieces([4])
    np.save(tmp_path / "hdr.npy", np.arange(6, dtype=np.uint32))
    with pytest.raises(InputError, match="NumPy .npy header"):
        open_order(f"olmo:{tmp_path / 'hdr.npy'},batch=2,seq=16", data=files)
    trunc = tmp_path / "trunc.npy"
    trunc.write_bytes(b"\x01\x00\x00\x00\x02\x00")
    with pytest.raises(InputError, match="truncated"):
        open_order(f"olmo:{trunc},batch=2,seq=16", data=files)
    big = tmp_path / "big.npy"
    mm = np.memmap(big, dtype=np.uint32, mode="w+", shape=(2,))
    mm[:] = [0, 10_000]
    mm.flush()
    with pytest.raises(InputError, match="instance 10000"):
        open_order(f"olmo:{big},batch=2,seq=16", data=files).pieces([1])


def test_olmo_data_indices_dir(tmp_path):
    files = _olmo_files(tmp_path)
    d = tmp_path / "data-indices"
    d.mkdir()
    for r, rows in enumerate(([1, 3], [2, 0])):
        with gzip.open(d / f"rank{r}.tsv.gz", "wt") as f:
            f.write(f"7\t{rows[0]}\n8\t{rows[1]}\n")
    o = open_order(f"olmo:{d},batch=2,seq=16,eos=0", data=files)
    assert o.instances([7])[7].tolist() == [1, 2]


# -- Megatron -----------------------------------------------------------------------------------------------

def _write_megatron(prefix, docs, dtype_code=8):
    """An indexed dataset written from the published format (one sequence per document)."""
    arr = [np.asarray(d, dtype=np.uint16) for d in docs]
    with open(str(prefix) + ".bin", "wb") as f:
        for a in arr:
            f.write(a.tobytes())
    lens = np.array([a.size for a in arr], dtype=np.int32)
    ptrs = np.concatenate([[0], np.cumsum(lens[:-1]) * 2]).astype(np.int64)
    didx = np.arange(len(arr) + 1, dtype=np.int64)
    with open(str(prefix) + ".idx", "wb") as f:
        f.write(HEADER + struct.pack("<Q", 1) + struct.pack("<B", dtype_code))
        f.write(struct.pack("<Q", len(arr)) + struct.pack("<Q", didx.size))
        f.write(lens.tobytes() + ptrs.tobytes() + didx.tobytes())


def _megatron_case(tmp_path, seq=8):
    rng = np.random.default_rng(3)
    docs = [rng.integers(1, 900, size=int(rng.integers(2, 20))) for _ in range(15)]
    _write_megatron(tmp_path / "corpus", docs)
    doc_index = rng.permutation(15).astype(np.int32)
    # sample boundaries walking document_index with seq tokens per sample (+1 extra token shared)
    bounds, k, off = [(0, 0)], 0, 0
    lens = [len(docs[i]) for i in doc_index]
    while True:
        need = seq
        while k < len(lens) and need > 0:
            take = min(need, lens[k] - off)
            need -= take
            off += take
            if off == lens[k] and need > 0:   # the extra token lives in the next document
                k, off = k + 1, 0
        if need > 0 or k >= len(lens):
            break
        bounds.append((k, off))
        if off == lens[k]:
            k, off = k + 1, 0
    bounds[-1] = bounds[-1]
    cache = tmp_path / "cache"
    cache.mkdir()
    np.save(cache / "h-GPTDataset-train-document_index.npy", doc_index)
    np.save(cache / "h-GPTDataset-train-sample_index.npy", np.array(bounds, dtype=np.int32))
    np.save(cache / "h-GPTDataset-train-shuffle_index.npy", rng.permutation(len(bounds) - 1).astype(np.uint32))
    return docs, cache


def test_megatron_maps_samples_to_documents(tmp_path):
    docs, cache = _megatron_case(tmp_path)
    o = open_order(f"megatron:{cache},batch=2", data=tmp_path / "corpus")
    assert isinstance(o, MegatronOrder)
    n = o.n_samples()
    assert n >= 4
    for i in range(n):
        ps = o.sample_pieces(i)
        assert ps[0][2] == 0 and all(a[3] == b[2] for a, b in zip(ps, ps[1:]))
        assert ps[-1][3] == 9                       # seq 8 + the extra label token
    got = o.pieces([2])[2]
    assert {p.placement.sample_id for p in got} == {2, 3}
    # consumed samples from the log: iteration 2 trained on samples [3, 4) after a ramp-up
    o2 = MegatronOrder(cache, data=tmp_path / "corpus", batch=2, consumed={1: 3, 2: 4})
    assert o2.sample_range(2) == (3, 4)


def test_megatron_bad_files(tmp_path):
    docs, cache = _megatron_case(tmp_path)
    with pytest.raises(InputError, match="past the end of the order"):
        open_order(f"megatron:{cache},batch=2", data=tmp_path / "corpus").pieces([10_000])
    idx = tmp_path / "corpus.idx"
    raw = idx.read_bytes()
    idx.write_bytes(b"TNTIDX\x00\x00" + raw[8:])
    with pytest.raises(InputError, match="wrong magic"):
        open_order(f"megatron:{cache},batch=2", data=tmp_path / "corpus")
    idx.write_bytes(raw[:60])
    with pytest.raises(InputError, match="truncated"):
        open_order(f"megatron:{cache},batch=2", data=tmp_path / "corpus")
    idx.write_bytes(raw)
    with pytest.raises(InputError, match="no document_index"):
        open_order(f"megatron:{tmp_path / 'nothing'},batch=2", data=tmp_path / "corpus")


def test_megatron_against_megatron_core(tmp_path):
    """Files written by megatron-core itself; our mapping equals GPTDataset's own sample query."""
    pytest.importorskip("megatron.core")
    torch = pytest.importorskip("torch")
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
    from megatron.core.datasets.indexed_dataset import IndexedDataset, IndexedDatasetBuilder
    from megatron.core.datasets.utils import Split

    class Tok:
        vocab_size, eod, pad = 1000, 0, 0
        unique_identifiers = {"class": "Tok"}

    rng = np.random.default_rng(0)
    b = IndexedDatasetBuilder(str(tmp_path / "c.bin"), dtype=np.uint16)
    for _ in range(60):
        b.add_item(torch.tensor(rng.integers(1, 1000, size=int(rng.integers(3, 40)))))
        b.end_document()
    b.finalize(str(tmp_path / "c.idx"))
    idx = IndexedDataset(str(tmp_path / "c"))
    cfg = GPTDatasetConfig(random_seed=1234, sequence_length=16, path_to_cache=str(tmp_path / "cache"),
                           reset_position_ids=False, reset_attention_mask=False, eod_mask_loss=False,
                           split="100,0,0", tokenizer=Tok())
    ds = GPTDataset(idx, str(tmp_path / "c"), np.arange(len(idx), dtype=np.int32), 200, Split.train, cfg)
    o = MegatronOrder(tmp_path / "cache", data=tmp_path / "c", batch=8)
    assert o.n_samples() == len(ds)
    for i in range(len(ds)):
        toks, doc_ids = ds._query_document_sample_shuffle_indices(i)
        ps = o.sample_pieces(i)
        mine = np.concatenate([o.dataset.get(s, off, te - ts) for s, off, ts, te in ps])
        assert [int(x) for x in doc_ids] == [p[0] for p in ps]
        assert np.array_equal(toks[: mine.size], mine)
