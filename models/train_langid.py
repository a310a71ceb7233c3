"""Character-level language identification (multi-label) with a small Transformer encoder.

    python -m models.train langid_transformer [--dim 96] [--epochs 8] [--data csv:my.csv]

Trained on real words (wordfreq's frequency lists; Estonian from Debian's spelling
dictionary), phrases sampled from them, Sphinx's and Firefox's translated interface messages,
CLDR display names (babel) and letter-less strings with no target (see models/langid_samples.py,
models/data_corpora.py, models/data_firefox.py). Before gradient descent the hashed n-gram table is set to
naive-Bayes log-probabilities counted over 600,000 samples (models/ngram_prior.py).
Evaluated on the held-out CLDR split and on real sentences and words training never reads
(models/langid_eval.py), beside lingua-language-detector and a char 1-3-gram logistic
regression trained on the same samples. Targets are multi-hot (a word can be spelled the
same in several languages); the network is trained with binary cross-entropy and exports
sigmoid probabilities plus its attention weights [batch, layers, heads, seq, seq].
With --data csv:<path> it trains on that file alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import cli, langid_eval, results
from .data_corpora import ESTONIAN_SOURCE, SPHINX_SOURCE, sphinx_messages
from .data_firefox import FIREFOX_SOURCE, firefox_messages, pack_version
from .data_text import CLDR_SOURCE, MAX_SHARED, load_text_data, split_by_text
from .data_words import WORDFREQ_SOURCE, load_lexicons, word_owners, wordfreq_lexicon
from .encoding import CharVocab, MultiHotEncoder
from .langid_baseline import NgramBaseline, multilabel_metrics
from .langid_export import export
from .langid_samples import SampleMix, Sampler
from .networks import TextTransformer
from .ngram_prior import count_buckets, naive_bayes_init
from .training import count_parameters, fit, set_seed

DEFAULTS = {
    "dim": 64,
    "heads": 4,
    "layers": 2,
    "max_length": 64,
    "dropout": 0.0,             # samples are drawn afresh every epoch; dropout cost about 25% of each step
    "conv_kernel": 5,           # character n-gram conv under the attention; 0 = pure Transformer
    # Hashed 2-5-gram embeddings (fastText-style); 0 = none. Collisions limited the words:
    # 49,152 -> 98,304 buckets took them from 0.756 to 0.781 in a 2-epoch check; 4x fits 10 MB
    # only as int8 (per-row scale), which costs nothing measurable in accuracy.
    "hash_buckets": 196608,
    "hash_storage": "int8",     # the trained table kept as fp32, fp16 or int8 (per-row scale) in the export
    "hash_dim": 40,             # with a naive-Bayes start, at most one column per language
    "prior_samples": 600000,    # samples counted for the naive-Bayes start of the n-gram table; 0 = random start
    "prior_smoothing": 0.5,
    "ngram_head": True,         # also read the mean n-gram embedding out linearly
    "ngram_lr_scale": 3.0,      # the n-gram table and read-out learn at lr * this, without weight decay
    "min_char_count": 3,        # rarer characters map to <unk>
    "lowercase": True,          # word lists are lower-case; the served model lower-cases too
    "top_words": 20000,         # most frequent words per language from wordfreq
    "word_power": 0.5,          # sample words by frequency ** power (flatter than real use)
    "mix_words": 0.35,          # the share of each kind of sample (models/langid_samples.py)
    "mix_phrases": 0.15,
    "mix_cldr": 0.20,
    "mix_no_letters": 0.05,
    "mix_messages": 0.25,       # real interface messages: Sphinx's and Firefox's translations
    "firefox": True,            # Firefox's language packs (scripts/fetch-firefox-l10n.sh) among the messages
    "samples_per_epoch": 80000,  # drawn afresh each epoch
    "val_samples": 6000,
    "epochs": 8,
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
    "baseline_samples": 100000,  # one epoch's worth of samples for it
    "real_eval": True,          # score on the real sentences and words, beside lingua
    "data": "cldr",             # or csv:<path> with text,labels rows
    "export": True,
    "repository": str(cli.REPOSITORY),
}
NAME = "langid_transformer"


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


def samplers(data, train_all: np.ndarray, val: np.ndarray, args) -> tuple[Sampler, Sampler, dict]:
    """Training and validation samplers: CLDR (train / validation side) plus the word lists."""
    cldr = args.data == "cldr"
    lexicons = load_lexicons(data.classes, data, args.top_words, args.word_power) if cldr else {}
    owners = word_owners(lexicons)
    mix = (SampleMix(args.mix_words, args.mix_phrases, args.mix_cldr, args.mix_no_letters, args.mix_messages) if cldr
           else SampleMix(words=0.0, phrases=0.0, cldr=1.0, no_letters=0.0))
    loanwords = wordfreq_lexicon("en", 3000, args.word_power) if cldr else None
    messages = interface_messages(data.classes, args.firefox) if cldr and args.mix_messages else {}
    held_out = set(val.tolist())  # built once: a set per element cost 8 s
    pairs = [(data.texts[i], data.labels[i]) for i in train_all if i not in held_out]
    train = Sampler(lexicons, owners, pairs, mix, loanwords, messages)
    held = Sampler(lexicons, owners, [(data.texts[i], data.labels[i]) for i in val], mix, loanwords, messages)
    sources = {"cldr": {**CLDR_SOURCE, "filter": f"strings shared by >= {MAX_SHARED} locales dropped"},
               "words": {**WORDFREQ_SOURCE, "top_words": args.top_words, "sampling": f"frequency ** {args.word_power}",
                         "from_cldr_instead": sorted(c for c in data.classes
                                                    if c != "et" and wordfreq_lexicon(c, 1, 1) is None),
                         "hr_sr": "wordfreq's `sh` list: hr as written (Latin), sr transliterated to Cyrillic"},
               "estonian_words": ESTONIAN_SOURCE,
               "shared_words": "a word in several lists is a target of each, graded 0.5 + 0.5 * frequency / "
                               "the highest of its frequencies"}
    if messages:
        sources["messages"] = {"per_language": {k: len(v) for k, v in sorted(messages.items())},
                               "sphinx": SPHINX_SOURCE}
        if args.firefox:
            sources["messages"]["firefox"] = {**FIREFOX_SOURCE, "version": pack_version()}
    summary = {"name": "wordfreq word lists and phrases sampled from them, Estonian dictionary words, Sphinx's and "
                       "Firefox's translated interface messages, CLDR display names (babel), letter-less strings",
               "licence": f"wordfreq: {WORDFREQ_SOURCE['licence']}; myspell-et: {ESTONIAN_SOURCE['licence']}; "
                          f"Sphinx: {SPHINX_SOURCE['licence']}; Firefox: {FIREFOX_SOURCE['licence']}; "
                          f"CLDR: {CLDR_SOURCE['licence']}"}
    return train, held, {**summary, **sources} if cldr else {"name": args.data}


def interface_messages(classes: list[str], firefox: bool) -> dict[str, list[str]]:
    """Sphinx's messages (close pairs dropped where Sphinx has one side), plus Firefox's for every language."""
    found = {code: set(texts) for code, texts in sphinx_messages(classes).items()}
    if firefox:
        for code, texts in firefox_messages(classes).items():
            found.setdefault(code, set()).update(texts)
    return {code: sorted(texts) for code, texts in found.items()}


def main(argv: Sequence[str] | None = None, name: str = NAME) -> dict:
    args = cli.parse(DEFAULTS, argv, f"models.train {name}")
    set_seed(args.seed)
    data = load_text_data(args.data)
    train_all, test, split_record = split_by_text(data, args.test_fraction, args.split_seed)
    rng = np.random.default_rng(args.seed)
    shuffled = rng.permutation(train_all)
    val = np.sort(shuffled[: max(1, round(len(shuffled) * args.val_fraction))])
    encoder = MultiHotEncoder(data.classes)
    train_sampler, val_sampler, sources = samplers(data, train_all, val, args)
    val_texts, val_labels = zip(*val_sampler.epoch(args.val_samples, np.random.default_rng(args.seed + 1)))
    val_targets = encoder.encode_batch(list(val_labels))
    first_epoch = train_sampler.epoch(args.samples_per_epoch, np.random.default_rng(args.seed + 2))
    vocab = CharVocab.build([t for t, _ in first_epoch], args.min_char_count, args.max_length, args.lowercase)
    model = TextTransformer(len(vocab), len(encoder), dim=args.dim, heads=args.heads, layers=args.layers,
                            max_length=args.max_length, dropout=args.dropout, conv_kernel=args.conv_kernel,
                            hash_buckets=args.hash_buckets, hash_orders=(2, 3, 4, 5), ngram_head=args.ngram_head,
                            hash_dim=min(args.hash_dim, len(encoder)) if args.prior_samples else args.hash_dim)
    prior = naive_bayes_start(model, vocab, encoder, train_sampler, args) if args.prior_samples else None

    def batches(rng):
        samples = train_sampler.epoch(args.samples_per_epoch, rng)  # a fresh draw of words and phrases
        texts = [t for t, _ in samples]
        targets = torch.from_numpy(encoder.encode_batch([labels for _, labels in samples]))
        for index in batches_by_length(vocab, texts, args.batch_size, rng):
            yield encode(vocab, texts, index), targets[index]

    def loss_fn(m, inputs, target):
        return F.binary_cross_entropy_with_logits(m.logits(*inputs), target)

    def val_loss(m):
        scores = np.clip(probabilities(m, vocab, list(val_texts)), 1e-7, 1 - 1e-7)
        return float(-np.mean(val_targets * np.log(scores) + (1 - val_targets) * np.log(1 - scores)))

    # A hashed n-gram row is updated only when its n-gram occurs: like fastText, it needs a larger step.
    fast = [p for n, p in model.named_parameters() if n.startswith(("hashed.", "ngram_head."))]
    rest = [p for n, p in model.named_parameters() if not n.startswith(("hashed.", "ngram_head."))]
    groups = [{"params": rest}] + ([{"params": fast, "lr": args.lr * args.ngram_lr_scale, "weight_decay": 0.0}]
                                   if fast else [])
    run = fit(model, batches, loss_fn, val_loss, epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay,
              patience=args.patience, seed=args.seed, desc=name, param_groups=groups,
              steps_per_epoch=-(-len(first_epoch) // args.batch_size), fused=True)
    parameters = count_parameters(model)  # as trained: the n-gram table is a parameter until compacted
    model.compact_ngram_table(args.hash_storage)  # evaluated and exported as stored
    targets = encoder.encode_batch(data.labels)
    test_texts = [data.texts[i] for i in test]
    metrics = multilabel_metrics(probabilities(model, vocab, test_texts), targets[test], args.threshold)
    metrics.update({"naive_bayes_start": prior, "best_epoch": run.best_epoch, "epochs_run": run.epochs_run, "train_seconds": round(run.seconds, 1),
                    "parameters": parameters, "ngram_table_storage": args.hash_storage, "vocab_size": len(vocab), "classes": len(encoder),
                    "split": {**split_record, "val_size": len(val)}})
    print(f"{name}: CLDR top-1 {metrics['top1_accuracy']:.4f} micro-F1 {metrics['micro_f1']:.4f} "
          f"macro-F1 {metrics['macro_f1']:.4f}")
    record = {"name": name, "metrics": metrics}
    baseline = None
    if args.baseline:
        samples = train_sampler.epoch(args.baseline_samples, np.random.default_rng(args.seed + 3))
        baseline = NgramBaseline(encoder.classes, args.seed).fit(  # one-vs-rest needs 0/1: every owner counts
            [t for t, _ in samples], (encoder.encode_batch([labels for _, labels in samples]) > 0).astype(np.float32))
        record["baseline"] = {**multilabel_metrics(baseline.scores(test_texts), targets[test], args.threshold),
                              **baseline.record()}
        print(f"logistic regression: CLDR top-1 {record['baseline']['top1_accuracy']:.4f}")
    if args.real_eval and args.data == "cldr":
        record["real_text"] = real_text_evaluation(model, vocab, encoder, baseline)
    if args.export:
        record["provenance"] = export(model, vocab, encoder, test_texts, metrics, record.get("baseline"),
                                      record.get("real_text"), sources, args, name, DEFAULTS)
    results.save(name, record)
    return record


def naive_bayes_start(model, vocab, encoder, sampler, args) -> dict:
    """Count n-gram buckets per language over a large draw of samples; start the table from them."""
    drawn = sampler.epoch(args.prior_samples, np.random.default_rng(args.seed + 4))
    counts = count_buckets(model, vocab, [t for t, _ in drawn], encoder.encode_batch([labels for _, labels in drawn]))
    return {"samples": len(drawn), **naive_bayes_init(model, counts, args.prior_smoothing)}


def real_text_evaluation(model, vocab, encoder, baseline) -> dict:
    """Ours, lingua and the n-gram baseline on the real sentences and words, in one run."""
    def ours(texts: list[str]) -> list[str]:
        return [encoder.classes[i] for i in probabilities(model, vocab, texts).argmax(1)]

    report = langid_eval.evaluate({"transformer": ours, "lingua": langid_eval.lingua_predictor(encoder.classes),
                                   "ngram_baseline": baseline.predict if baseline else None})
    for detector, found in report["detectors"].items():
        if not found.get("missing"):
            print(f"real text, {detector}: sentences {found['sentences']['top1']:.4f} words {found['words']['top1']:.4f}")
    return report
