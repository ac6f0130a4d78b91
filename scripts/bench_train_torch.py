"""PyTorch half of the side-by-side training-speed benchmark.

The Rust trainer's speed only means something next to a reference, so the
Rust side writes a "batch plan" (the exact padded batches it trained on) and
this script trains the same model on those same batches with PyTorch on the
CPU, with the same thread count, and prints how fast it went. Both sides then
do identical work: same tokens, same padding, same model, same optimizer.

Model, mirroring the crate's classifier: a Hugging Face `DistilBertModel`
built from the folder's config.json and loaded (strictly) from its
model.safetensors (`distilbert.` prefix stripped), then the crate's head:
pooling (masked mean of the last hidden states over real tokens, or [CLS],
per config.json's "pooling"), `pre_classifier` Linear(dim, dim), ReLU,
dropout, `classifier` Linear(dim, num_labels). The head is freshly
initialised (seeded). Training: train mode (dropout on), BCEWithLogitsLoss
(mean), AdamW (weight decay 0.01 except biases and LayerNorm weights),
linear warmup over the first 10% of the plan's steps then linear decay to
zero, gradient norm clipped at 1.0, one optimizer step per batch.

Plan format (JSON):
    {"num_labels": 27,
     "batches": [{"input_ids": [[101, ...], ...],
                  "attention_mask": [[1, ..., 0], ...],
                  "targets": [[0.0, 1.0, ...], ...]}, ...]}
Each batch is already padded to its own longest row; targets are 0/1 floats
of width num_labels.

The first --warmup steps are not timed. Samples are rows, tokens are real
(unmasked) tokens, both over the timed steps. Progress goes to stderr; the
last line of stdout is `TORCH {json}`. Bad input exits with status 2 and a
one-line message on stderr.

How to run it, from the repository root:

    OMP_WAIT_POLICY=PASSIVE /opt/pyref/bin/python scripts/bench_train_torch.py \\
        --model models/base --plan /tmp/plan.json
"""

import argparse
import json
import math
import os
import resource
import sys
import time
from pathlib import Path

# OpenMP reads this once, when torch loads it: busy-waiting workers would
# steal the CPU from everything else on a small machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from torch import nn  # noqa: E402
from transformers import DistilBertConfig, DistilBertModel  # noqa: E402

WEIGHT_PREFIX = "distilbert."
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.1
MAX_GRAD_NORM = 1.0
# config.json keys, with the crate's defaults (None: required).
CONFIG_KEYS = {
    "vocab_size": None,
    "dim": None,
    "n_layers": None,
    "n_heads": None,
    "hidden_dim": None,
    "max_position_embeddings": None,
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "seq_classif_dropout": 0.2,
    "activation": "gelu",
    "pad_token_id": 0,
}
POOLINGS = ("cls", "mean")
ACTIVATIONS = ("gelu", "relu")


class InputError(Exception):
    """Bad command-line input: reported as one line, exit status 2."""


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def parse_args():
    parser = argparse.ArgumentParser(
        description="Train the crate's classifier with PyTorch on a batch plan and report the speed."
    )
    parser.add_argument("--model", required=True, type=Path,
                        help="DistilBERT folder with config.json and model.safetensors (encoder only)")
    parser.add_argument("--plan", required=True, type=Path,
                        help="batch plan JSON written by the Rust side of the benchmark")
    parser.add_argument("--warmup", type=non_negative_int, default=3,
                        help="steps run before timing starts (default 3)")
    parser.add_argument("--threads", type=positive_int, default=2,
                        help="PyTorch intra-op threads (default 2)")
    parser.add_argument("--lr", type=positive_float, default=1e-4,
                        help="peak learning rate of AdamW (default 1e-4)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for the head's initialisation and dropout (default 0)")
    return parser.parse_args()


def one_line(error):
    return " ".join(str(error).split())


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise InputError(f"cannot read {what} {path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{what} {path} is not valid JSON: {e}") from None


def load_config(model_dir):
    """Returns (DistilBertConfig, pooling) from config.json, ignoring keys it does not use."""
    raw = read_json(model_dir / "config.json", "model config")
    if not isinstance(raw, dict):
        raise InputError(f"{model_dir / 'config.json'}: expected a JSON object")
    values = {}
    for key, default in CONFIG_KEYS.items():
        if key not in raw and default is None:
            raise InputError(f"{model_dir / 'config.json'}: missing key {key!r}")
        values[key] = raw.get(key, default)
    if values["activation"] not in ACTIVATIONS:
        raise InputError(
            f"{model_dir / 'config.json'}: activation must be one of {ACTIVATIONS}, got {values['activation']!r}"
        )
    pooling = raw.get("pooling", "cls")
    if pooling not in POOLINGS:
        raise InputError(f"{model_dir / 'config.json'}: pooling must be one of {POOLINGS}, got {pooling!r}")
    try:
        config = DistilBertConfig(**values)
    except Exception as e:  # transformers validates fields with its own error types
        raise InputError(f"{model_dir / 'config.json'}: {one_line(e)}") from None
    return config, pooling


def load_encoder(model_dir, config):
    """A DistilBertModel with every tensor from model.safetensors, checked strictly."""
    path = model_dir / "model.safetensors"
    if not path.is_file():
        raise InputError(f"missing weights file {path}")
    try:
        tensors = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise InputError(f"cannot load {path}: {one_line(e)}") from None
    unprefixed = sorted(name for name in tensors if not name.startswith(WEIGHT_PREFIX))
    if unprefixed:
        raise InputError(f"{path}: tensor {unprefixed[0]!r} lacks the {WEIGHT_PREFIX!r} prefix")
    state = {name[len(WEIGHT_PREFIX):]: tensor for name, tensor in tensors.items()}
    try:
        encoder = DistilBertModel(config)
    except ValueError as e:  # e.g. n_heads not dividing dim
        raise InputError(f"{model_dir / 'config.json'}: {one_line(e)}") from None
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise InputError(f"{path} does not match config.json: {one_line(e)}") from None
    return encoder


class Classifier(nn.Module):
    """The encoder plus the crate's head: pooling, pre_classifier, ReLU, dropout, classifier."""

    def __init__(self, encoder, pooling, num_labels):
        super().__init__()
        dim = encoder.config.dim
        self.distilbert = encoder
        self.pooling = pooling
        self.pre_classifier = nn.Linear(dim, dim)
        self.classifier = nn.Linear(dim, num_labels)
        self.dropout = nn.Dropout(encoder.config.seq_classif_dropout)

    def forward(self, input_ids, attention_mask):
        hidden = self.distilbert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = torch.relu(self.pre_classifier(pool(hidden, attention_mask, self.pooling)))
        return self.classifier(self.dropout(pooled))


def pool(hidden, attention_mask, pooling):
    """(batch, seq, dim) -> (batch, dim); the mean clamps counts at 1e-9 like the crate."""
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def is_int_matrix(rows):
    return isinstance(rows, list) and all(
        isinstance(row, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in row)
        for row in rows
    )


def is_number_matrix(rows):
    return isinstance(rows, list) and all(
        isinstance(row, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row)
        for row in rows
    )


def check_batch(index, batch, num_labels, config):
    """Raises InputError unless the batch is rectangular, consistent and within the model's limits."""
    where = f"plan batch {index}"
    if not isinstance(batch, dict):
        raise InputError(f"{where}: expected an object")
    for key in ("input_ids", "attention_mask", "targets"):
        if key not in batch:
            raise InputError(f"{where}: missing {key!r}")
    ids, mask, targets = batch["input_ids"], batch["attention_mask"], batch["targets"]
    if not is_int_matrix(ids) or not ids:
        raise InputError(f"{where}: input_ids must be a non-empty list of lists of integers")
    if not is_int_matrix(mask):
        raise InputError(f"{where}: attention_mask must be a list of lists of integers")
    if not is_number_matrix(targets):
        raise InputError(f"{where}: targets must be a list of lists of numbers")
    rows, width = len(ids), len(ids[0])
    if width == 0 or any(len(row) != width for row in ids):
        raise InputError(f"{where}: input_ids rows must all have the same, non-zero length")
    if width > config.max_position_embeddings:
        raise InputError(f"{where}: {width} tokens exceed max_position_embeddings {config.max_position_embeddings}")
    if len(mask) != rows or any(len(row) != width for row in mask):
        raise InputError(f"{where}: attention_mask must be {rows}x{width} like input_ids")
    if any(v not in (0, 1) for row in mask for v in row):
        raise InputError(f"{where}: attention_mask values must be 0 or 1")
    if len(targets) != rows or any(len(row) != num_labels for row in targets):
        raise InputError(f"{where}: targets must be {rows}x{num_labels} (rows x num_labels)")
    if any(not 0 <= v <= 1 for row in targets for v in row):
        raise InputError(f"{where}: targets must lie in [0, 1]")
    if any(not 0 <= v < config.vocab_size for row in ids for v in row):
        raise InputError(f"{where}: input_ids must lie in [0, {config.vocab_size})")


def load_plan(path, config):
    """Returns (num_labels, [(input_ids, attention_mask, targets) tensors]) from the plan file."""
    plan = read_json(path, "batch plan")
    if not isinstance(plan, dict) or "num_labels" not in plan or "batches" not in plan:
        raise InputError(f"{path}: expected an object with 'num_labels' and 'batches'")
    num_labels, batches = plan["num_labels"], plan["batches"]
    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 1:
        raise InputError(f"{path}: num_labels must be a positive integer")
    if not isinstance(batches, list) or not batches:
        raise InputError(f"{path}: batches must be a non-empty list")
    tensors = []
    for index, batch in enumerate(batches):
        check_batch(index, batch, num_labels, config)
        tensors.append((
            torch.tensor(batch["input_ids"], dtype=torch.long),
            torch.tensor(batch["attention_mask"], dtype=torch.long),
            torch.tensor(batch["targets"], dtype=torch.float32),
        ))
    return num_labels, tensors


def takes_weight_decay(name):
    """Not biases, not LayerNorm weights (same name rule as the crate's optimiser)."""
    return not (name.endswith(".bias") or "LayerNorm" in name or "layer_norm" in name)


def build_optimizer(model, lr):
    """AdamW with weight decay on every parameter but biases and LayerNorm weights."""
    named = list(model.named_parameters())
    groups = [
        {"params": [p for n, p in named if takes_weight_decay(n)], "weight_decay": WEIGHT_DECAY},
        {"params": [p for n, p in named if not takes_weight_decay(n)], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


def linear_schedule(optimizer, total_steps):
    """Linear warmup over the first 10% of steps, then linear decay to zero.

    The same factor as transformers' get_linear_schedule_with_warmup; the
    warmup length is rounded half away from zero, like the crate's trainer.
    """
    warmup_steps = math.floor(WARMUP_FRACTION * total_steps + 0.5)

    def factor(step):
        if step < warmup_steps:
            return step / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_step(model, loss_fn, optimizer, scheduler, batch):
    input_ids, attention_mask, targets = batch
    logits = model(input_ids, attention_mask)
    loss = loss_fn(logits, targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def log_step(step, total, phase, loss):
    print(f"step {step + 1}/{total} ({phase}) loss {loss:.4f}", file=sys.stderr, flush=True)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def run(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config, pooling = load_config(args.model)
    num_labels, batches = load_plan(args.plan, config)
    if len(batches) <= args.warmup:
        raise InputError(f"the plan has {len(batches)} batches, not more than --warmup {args.warmup}")
    model = Classifier(load_encoder(args.model, config), pooling, num_labels)
    model.train()
    optimizer = build_optimizer(model, args.lr)
    scheduler = linear_schedule(optimizer, len(batches))
    loss_fn = nn.BCEWithLogitsLoss()

    for step, batch in enumerate(batches[:args.warmup]):
        loss = train_step(model, loss_fn, optimizer, scheduler, batch)
        log_step(step, len(batches), "warmup", loss)
    timed = batches[args.warmup:]
    start = time.perf_counter()
    for step, batch in enumerate(timed, start=args.warmup):
        loss = train_step(model, loss_fn, optimizer, scheduler, batch)
        log_step(step, len(batches), "timed", loss)
    seconds = time.perf_counter() - start

    samples = sum(ids.shape[0] for ids, _, _ in timed)
    tokens = sum(int(mask.sum()) for _, mask, _ in timed)
    return {
        "samples_per_s": samples / seconds,
        "tokens_per_s": tokens / seconds,
        "steps": len(timed),
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "threads": args.threads,
        "torch": torch.__version__,
        "attn": model.distilbert.config._attn_implementation,
    }


def main():
    args = parse_args()
    try:
        result = run(args)
    except InputError as e:
        print(f"bench_train_torch: error: {e}", file=sys.stderr)
        sys.exit(2)
    print("TORCH " + json.dumps(result))


if __name__ == "__main__":
    main()
