"""Character-level language identification (multi-label) with a small Transformer encoder.

    python -m models.train langid_transformer [--dim 96] [--epochs 12] [--data csv:my.csv]

Same script, same split: a char 1-3-gram logistic-regression baseline (sklearn).
Targets are multi-hot (a CLDR string can be spelled identically in several
languages); the network is trained with binary cross-entropy and exports sigmoid
probabilities plus its attention weights [batch, layers, heads, seq, seq].
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.export import Dim

from . import cli, results
from .data_text import CLDR_SOURCE, MAX_SHARED, TextSet, load_text_data, split_by_text
from .encoding import CharVocab, MultiHotEncoder
from .export import (
    PARITY_TOLERANCE,
    ExportError,
    base_config,
    publish,
    session,
    tensor_spec,
    update_provenance,
)
from .networks import TextTransformer
from .training import count_parameters, fit, set_seed

DEFAULTS = {
    "dim": 96,
    "heads": 4,
    "layers": 2,
    "max_length": 64,
    "dropout": 0.1,
    "conv_kernel": 5,           # character n-gram conv under the attention; 0 = pure Transformer
    "min_char_count": 2,        # rarer characters map to <unk>
    "epochs": 16,
    "batch_size": 128,
    "lr": 4e-3,
    "weight_decay": 0.01,
    "patience": 3,
    "val_fraction": 0.1,        # carved from the training strings
    "test_fraction": 0.2,       # held out by unique string
    "split_seed": 0,
    "seed": 0,
    "threshold": 0.5,           # for F1: labels at or above it, plus always the top-1
    "baseline": True,           # also fit the char n-gram logistic regression
    "data": "cldr",             # or csv:<path> with text,labels rows
    "export": True,
    "repository": str(cli.REPOSITORY),
}
NAME = "langid_transformer"
LENGTH_BUCKETS = [8, 16, 32]


def batches_by_length(vocab: CharVocab, texts: list[str], batch_size: int, rng: np.random.Generator | None):
    """Index batches of similar length (less padding); batch order shuffled when rng is given."""
    lengths = np.array([min(len(t), vocab.max_length) for t in texts])
    order = np.argsort(lengths + (rng.random(len(texts)) if rng is not None else 0), kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(chunks)
    return chunks


def encode(vocab: CharVocab, texts: list[str], index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    tokens, mask = vocab.encode_batch([texts[i] for i in index])
    return torch.from_numpy(tokens), torch.from_numpy(mask)


@torch.no_grad()
def probabilities(model: TextTransformer, vocab: CharVocab, texts: list[str]) -> np.ndarray:
    model.eval()
    out = np.zeros((len(texts), model.head.out_features), dtype=np.float32)
    for index in batches_by_length(vocab, texts, 512, None):
        out[index] = model(*encode(vocab, texts, index))[0].numpy()
    return out


def multilabel_metrics(scores: np.ndarray, targets: np.ndarray, threshold: float) -> dict:
    """top-1 accuracy (best label inside the true set), micro- and macro-F1 of thresholded labels."""
    from sklearn.metrics import f1_score

    top = scores.argmax(1)
    predicted = (scores >= threshold).astype(np.int64)
    predicted[np.arange(len(top)), top] = 1  # every text gets at least its best label
    return {
        "top1_accuracy": float(targets[np.arange(len(top)), top].mean()),
        "micro_f1": float(f1_score(targets, predicted, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(targets, predicted, average="macro", zero_division=0)),
    }


def logistic_baseline(data: TextSet, train: np.ndarray, test: np.ndarray, targets: np.ndarray, args) -> dict:
    """Char 1-3-gram TF-IDF + one-vs-rest logistic regression (log-loss SGD, fast on 2 cores)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.multiclass import OneVsRestClassifier

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    x_train = vectorizer.fit_transform([data.texts[i] for i in train])
    x_test = vectorizer.transform([data.texts[i] for i in test])
    classifier = OneVsRestClassifier(
        SGDClassifier(loss="log_loss", alpha=3e-6, max_iter=30, tol=1e-4, random_state=args.seed)
    )
    with warnings.catch_warnings():  # 30 SGD epochs are enough for the baseline; silence the reminder
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(x_train, targets[train])
    metrics = multilabel_metrics(classifier.predict_proba(x_test), targets[test], args.threshold)
    metrics.update({"features": int(x_train.shape[1]), "train_seconds": round(time.perf_counter() - started, 1),
                    "model": "TfidfVectorizer(char, 1-3) + OneVsRest(SGDClassifier(log_loss, alpha=3e-6))"})
    return metrics


def padding_invariance(path: Path, vocab: CharVocab, texts: list[str]) -> float:
    """Largest change in any output when a text is run alone versus padded inside a longer batch."""
    sess = session(path)
    longest = max(texts, key=len)
    worst = 0.0
    for text in texts:
        alone = sess.run(None, dict(zip(("tokens", "mask"), vocab.encode_batch([text]))))
        padded = sess.run(None, dict(zip(("tokens", "mask"), vocab.encode_batch([text, longest]))))
        n = alone[1].shape[-1]
        worst = max(worst, float(np.abs(alone[0][0] - padded[0][0]).max()),
                    float(np.abs(alone[1][0] - padded[1][0][:, :, :n, :n]).max()))
    return worst


def main(argv: Sequence[str] | None = None, name: str = NAME) -> dict:
    args = cli.parse(DEFAULTS, argv, f"models.train {name}")
    set_seed(args.seed)
    data = load_text_data(args.data)
    train_all, test, split_record = split_by_text(data, args.test_fraction, args.split_seed)
    rng = np.random.default_rng(args.seed)
    shuffled = rng.permutation(train_all)
    n_val = max(1, round(len(shuffled) * args.val_fraction))
    val, train = np.sort(shuffled[:n_val]), np.sort(shuffled[n_val:])
    encoder = MultiHotEncoder(data.classes)
    targets = encoder.encode_batch(data.labels)
    vocab = CharVocab.build((data.texts[i] for i in train), args.min_char_count, args.max_length)
    model = TextTransformer(len(vocab), len(encoder), dim=args.dim, heads=args.heads, layers=args.layers,
                            max_length=args.max_length, dropout=args.dropout, conv_kernel=args.conv_kernel)
    train_texts = [data.texts[i] for i in train]
    train_targets = torch.from_numpy(targets[train])
    val_texts, val_targets = [data.texts[i] for i in val], targets[val]

    def batches(rng):
        for index in batches_by_length(vocab, train_texts, args.batch_size, rng):
            yield encode(vocab, train_texts, index), train_targets[index]

    def loss_fn(m, inputs, target):
        return F.binary_cross_entropy_with_logits(m.logits(*inputs), target)

    def val_loss(m):
        scores = np.clip(probabilities(m, vocab, val_texts), 1e-7, 1 - 1e-7)
        return float(-np.mean(val_targets * np.log(scores) + (1 - val_targets) * np.log(1 - scores)))

    run = fit(model, batches, loss_fn, val_loss, epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay,
              patience=args.patience, seed=args.seed, desc=name,
              steps_per_epoch=-(-len(train_texts) // args.batch_size))
    test_texts = [data.texts[i] for i in test]
    metrics = multilabel_metrics(probabilities(model, vocab, test_texts), targets[test], args.threshold)
    metrics.update({"best_epoch": run.best_epoch, "epochs_run": run.epochs_run, "train_seconds": round(run.seconds, 1),
                    "parameters": count_parameters(model), "vocab_size": len(vocab), "classes": len(encoder),
                    "split": {**split_record, "val_size": len(val)}})
    print(f"{name}: top-1 {metrics['top1_accuracy']:.4f} micro-F1 {metrics['micro_f1']:.4f} "
          f"macro-F1 {metrics['macro_f1']:.4f}")
    record = {"name": name, "metrics": metrics}
    if args.baseline:
        record["baseline"] = logistic_baseline(data, train_all, test, targets, args)
        print(f"logistic regression: top-1 {record['baseline']['top1_accuracy']:.4f}")
    if args.export:
        record["provenance"] = export(model, vocab, encoder, test_texts, metrics, record.get("baseline"), args, name)
    results.save(name, record)
    return record


def export(model, vocab, encoder, test_texts, metrics, baseline, args, name) -> dict:
    config = base_config(
        name, f"Character-level Transformer encoder ({args.layers} layers, {args.heads} heads, d={args.dim}) "
              "for multi-label language identification",
        [tensor_spec("tokens", "INT64", [-1], axis_names=["seq"], pad_value=vocab.pad_id,
                     value_range=(0, len(vocab) - 1), description="character ids from preprocessing.vocab"),
         tensor_spec("mask", "INT64", [-1], axis_names=["seq"], pad_value=0, allowed_values=[0, 1],
                     description="1 for real characters, 0 for padding")],
        [tensor_spec("probabilities", "FP32", [len(encoder)], description="independent sigmoid per language"),
         tensor_spec("attentions", "FP32", [args.layers, args.heads, -1, -1], axis_names=[None, None, "seq", "seq"],
                     description="softmax attention weights [layers, heads, query, key]; padded keys get 0")],
        labels=encoder.classes,
        preprocessing=vocab.to_config(),
        postprocessing={"type": "none", "output": "probabilities", "applied_in_graph": "sigmoid",
                        "multi_label": True, "threshold": args.threshold, "top_k": 5,
                        "attention_output": "attentions"},
        warmup_length=16,
    )
    # Held-out CLDR strings: median 10 characters, 90% within 21, longest 54. Batching by
    # these buckets keeps a 5-character text from paying attention over a 50-long padding.
    config["dynamic_batching"]["length_buckets"] = LENGTH_BUCKETS
    data_record = {**CLDR_SOURCE, "languages": encoder.classes, "filter": f"strings shared by >= {MAX_SHARED} "
                   "locales dropped", "split": metrics["split"]} if args.data == "cldr" else {"name": args.data}
    command = cli.command(name, args, DEFAULTS)
    config["provenance"] = {"data": data_record, "metrics": metrics, "training_command": command}
    if baseline:
        config["provenance"]["baseline"] = baseline
    by_length = sorted(test_texts, key=len)
    middle, spread = len(by_length) // 2, by_length[:: max(1, len(by_length) // 64)][:64]
    cases = [by_length[middle : middle + 1], by_length[-7:], spread]  # batch 1, 7 and 64 at mixed lengths
    batch, seq = Dim("batch", min=1, max=4096), Dim("seq", min=1, max=args.max_length)
    publish(
        model, repository=Path(args.repository), config=config,
        example=tuple(torch.from_numpy(a) for a in vocab.encode_batch(by_length[-4:])),
        dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}),
        parity_cases=[tuple(torch.from_numpy(a) for a in vocab.encode_batch(c)) for c in cases],
    )
    # The server pads to the longest request in a batch: prove that changes nothing.
    path = Path(args.repository) / name / "1" / "model.onnx"
    worst = padding_invariance(path, vocab, by_length[:: max(1, len(by_length) // 50)])
    if worst > PARITY_TOLERANCE:
        raise ExportError(f"{name}: outputs change by {worst:.3g} when padded (tolerance {PARITY_TOLERANCE})")
    return update_provenance(Path(args.repository) / name, padding_invariance_max_abs_diff=worst)
