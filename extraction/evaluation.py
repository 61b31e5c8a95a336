"""Shingle-based text scoring shared by the quality benchmark and the golden-fixture gate."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Every Unicode ``\\w+`` run, case kept, punctuation dropped."""
    return _TOKEN.findall(text or "")


def shingles(tokens: list[str], size: int = 4) -> Counter[tuple[str, ...]]:
    """Multiset of runs of ``size`` consecutive tokens (one shorter shingle for short texts)."""
    if not tokens:
        return Counter()
    if len(tokens) < size:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1))


@dataclass(frozen=True)
class PageScore:
    """Normalized TP/FP/FN of one page plus the exact-match flag."""

    tp: float
    fp: float
    fn: float
    exact: bool

    @property
    def precision(self) -> float | None:
        """TP/(TP+FP); None when the page has no predicted shingles at all."""
        if self.tp + self.fp == 0:
            return None
        return self.tp / (self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        """TP/(TP+FN); None when the page has no expected shingles at all."""
        if self.tp + self.fn == 0:
            return None
        return self.tp / (self.tp + self.fn)


def score_page(predicted: str, expected: str) -> PageScore:
    """Score one page: shared shingles (min of counts), surplus and missing, normalized."""
    pred_tokens, exp_tokens = tokenize(predicted), tokenize(expected)
    pred, exp = shingles(pred_tokens), shingles(exp_tokens)
    tp = sum((pred & exp).values())
    fp = sum((pred - exp).values())
    fn = sum((exp - pred).values())
    total = tp + fp + fn
    exact = pred_tokens == exp_tokens
    if total == 0:
        return PageScore(0.0, 0.0, 0.0, exact)
    return PageScore(tp / total, fp / total, fn / total, exact)


@dataclass(frozen=True)
class Summary:
    """Mean precision and recall over pages, their harmonic mean and exact-match accuracy."""

    precision: float
    recall: float
    f1: float
    accuracy: float
    pages: int


def summarize(scores: Iterable[PageScore]) -> Summary:
    """Average per-page precision/recall (pages where undefined left out); F1 of the means."""
    items = list(scores)
    precisions: list[float] = []
    recalls: list[float] = []
    for s in items:
        # Pages with TP+FP = 0 leave the precision mean, pages with TP+FN = 0 the recall mean.
        if s.precision is not None:
            precisions.append(s.precision)
        if s.recall is not None:
            recalls.append(s.recall)
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(recalls) / len(recalls) if recalls else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accuracy = sum(s.exact for s in items) / len(items) if items else 0.0
    return Summary(precision, recall, f1, accuracy, len(items))
