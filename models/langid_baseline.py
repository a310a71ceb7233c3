"""Metrics and the character n-gram baseline for language id."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence

import numpy as np


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


class NgramBaseline:
    """Char 1-3-gram TF-IDF + one-vs-rest logistic regression (log-loss SGD, fast on 2 cores)."""

    description = "TfidfVectorizer(char, 1-3, lower-cased) + OneVsRest(SGDClassifier(log_loss, alpha=3e-6))"

    def __init__(self, classes: Sequence[str], seed: int) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import SGDClassifier
        from sklearn.multiclass import OneVsRestClassifier

        self.classes = list(classes)
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, lowercase=True)
        self.classifier = OneVsRestClassifier(
            SGDClassifier(loss="log_loss", alpha=3e-6, max_iter=30, tol=1e-4, random_state=seed))
        self.seconds = 0.0

    def fit(self, texts: list[str], targets: np.ndarray) -> NgramBaseline:
        from sklearn.exceptions import ConvergenceWarning

        started = time.perf_counter()
        x = self.vectorizer.fit_transform(texts)
        with warnings.catch_warnings():  # 30 SGD epochs are enough for the baseline; silence the reminder
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.classifier.fit(x, targets)
        self.seconds = time.perf_counter() - started
        return self

    def scores(self, texts: list[str]) -> np.ndarray:
        return self.classifier.predict_proba(self.vectorizer.transform(texts))

    def predict(self, texts: list[str]) -> list[str]:
        return [self.classes[i] for i in self.scores(texts).argmax(1)]

    def record(self) -> dict:
        return {"model": self.description, "features": len(self.vectorizer.vocabulary_),
                "train_seconds": round(self.seconds, 1)}
