"""The training loop: seeding, loss going down on small slices, early stopping, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models import train as cli_train
from models.data_images import load_digits_arrays
from models.data_vowels import load_vowels, pad_batch
from models.encoding import CharVocab, MultiHotEncoder
from models.networks import LeNet, SequenceClassifier, TextTransformer
from models.training import fit, minibatches, set_seed, validation_split


def steps(model, inputs, target, loss_fn, n=15, lr=3e-3):
    """Loss before and after n full-batch Adam steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    first = loss_fn(model, inputs, target).item()
    for _ in range(n):
        loss = loss_fn(model, inputs, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return first, loss_fn(model, inputs, target).item()


def test_cnn_loss_goes_down_on_a_slice_of_digits():
    set_seed(0)
    images, labels = load_digits_arrays()
    before, after = steps(LeNet(), (torch.from_numpy(images[:128]),), torch.from_numpy(labels[:128]),
                          lambda m, x, y: F.cross_entropy(m.logits(*x), y))
    assert after < 0.7 * before


def test_lstm_loss_goes_down_on_a_slice_of_vowels():
    set_seed(0)
    data = load_vowels("train")
    frames, lengths = pad_batch(data.sequences[::5])
    before, after = steps(SequenceClassifier(12, 9, hidden=32), (torch.from_numpy(frames), torch.from_numpy(lengths)),
                          torch.from_numpy(data.labels[::5]), lambda m, x, y: F.cross_entropy(m.logits(*x), y),
                          n=30, lr=1e-2)
    assert after < 0.7 * before


def test_transformer_bce_loss_goes_down_on_a_few_strings():
    set_seed(0)
    texts = ["Deutschland", "Allemagne", "Germany", "Германия", "Германия", "ドイツ"]
    encoder = MultiHotEncoder(["de", "fr", "en", "ru", "bg", "ja"])
    targets = torch.from_numpy(encoder.encode_batch([["de"], ["fr"], ["en"], ["ru", "bg"], ["ru", "bg"], ["ja"]]))
    vocab = CharVocab.build(texts, min_count=1)
    tokens, mask = (torch.from_numpy(a) for a in vocab.encode_batch(texts))
    model = TextTransformer(len(vocab), len(encoder), dim=32, heads=4, layers=2, max_length=16)
    before, after = steps(model, (tokens, mask), targets,
                          lambda m, x, y: F.binary_cross_entropy_with_logits(m.logits(*x), y))
    assert after < 0.7 * before


def test_fit_stops_early_and_restores_the_best_weights():
    set_seed(0)
    model = torch.nn.Linear(1, 1)
    x, y = torch.randn(64, 1), torch.randn(64, 1)
    losses = iter([1.0, 0.5, 0.7, 0.8, 0.9, 0.2])
    snapshots = []

    def val_loss(m):
        snapshots.append(m.weight.detach().clone())
        return next(losses)

    result = fit(model, lambda rng: [((x,), y)], lambda m, i, t: F.mse_loss(m(*i), t), val_loss,
                 epochs=6, lr=0.1, patience=3, progress=False)
    assert (result.best_epoch, result.epochs_run) == (2, 5)
    torch.testing.assert_close(model.weight, snapshots[1])


def test_seeded_runs_are_identical():
    def run():
        set_seed(3)
        model = LeNet()
        images = torch.rand(32, 1, 8, 8)
        labels = torch.randint(0, 10, (32,))
        steps(model, (images,), labels, lambda m, x, y: F.cross_entropy(m.logits(*x), y), n=3)
        return model.head[-1].weight.detach()

    torch.testing.assert_close(run(), run(), atol=0, rtol=0)


def test_minibatches_cover_every_index_once():
    batches = list(minibatches(10, 4, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))


def test_validation_split_is_carved_from_training_indices():
    train, val = validation_split(100, 0.2, 0, np.repeat(np.arange(4), 25))
    assert len(val) == 20 and not set(train) & set(val)


@pytest.mark.slow
def test_cli_trains_a_cnn_on_users_idx_files(idx_files, tmp_path, isolated_results, serve):
    repo = tmp_path / "repo"
    argv = ["digits_lenet", "--data", f"idx:{idx_files[0]},{idx_files[1]}", "--epochs", "3",
            "--repository", str(repo)]
    assert cli_train.main(argv) == 0
    config = json.loads((repo / "digits_lenet" / "config.json").read_text())
    assert config["labels"] == ["0", "1", "2"] and config["output"][0]["dims"] == [3]
    assert config["provenance"]["parity"]["max_abs_diff"] <= 1e-5
    assert "--epochs 3" in config["provenance"]["training_command"]
    assert (isolated_results / "digits_lenet.json").exists()
    assert "digits_lenet" in (isolated_results.parent / "RESULTS.md").read_text()
    serve(repo / "digits_lenet").warmup()  # the serving core accepts what the script wrote


@pytest.mark.slow
def test_cli_trains_the_transformer_on_a_users_csv(text_csv, tmp_path, isolated_results, serve):
    repo = tmp_path / "repo"
    argv = ["langid_transformer", "--data", f"csv:{text_csv}", "--epochs", "2", "--dim", "32",
            "--batch-size", "8", "--repository", str(repo)]
    assert cli_train.main(argv) == 0
    config = json.loads((repo / "langid_transformer" / "config.json").read_text())
    assert config["labels"] == ["xx", "yy", "zz"]
    assert [o["name"] for o in config["output"]] == ["probabilities", "attentions"]
    assert config["dynamic_batching"]["length_buckets"] == [8, 12, 16, 20, 24, 28, 32, 40, 48, 56]  # short texts batch apart from long ones
    assert config["provenance"]["padding_invariance_max_abs_diff"] <= 1e-5
    record = json.loads((isolated_results / "langid_transformer.json").read_text())
    assert set(record["baseline"]) >= {"top1_accuracy", "micro_f1", "macro_f1"}
    serve(repo / "langid_transformer").warmup()


def test_cli_rejects_an_unknown_model(capsys):
    assert cli_train.main(["digits_vgg"]) == 2
    assert "unknown model 'digits_vgg'" in capsys.readouterr().err
