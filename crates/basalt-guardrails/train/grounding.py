"""Fits contextual grounding's weights (src/grounding.rs: GROUNDING_WEIGHTS, RELEVANCE_WEIGHTS) on
the calibration split of tests/data/grounding_calibration.json and measures them on its test split.

    cargo run --release -p basalt-guardrails --example grounding_calibration > /tmp/grounding.jsonl
    python3 crates/basalt-guardrails/train/grounding.py /tmp/grounding.jsonl

The example scores every answer with the real all-MiniLM-L6-v2 through the guardrail's own code and
writes the features behind the scores; this script fits one L2 logistic regression per score
(numpy, gradient descent on standardised-free raw features, bias unpenalised) and prints the
weights as Rust constants, then the accuracy of the scores the *compiled* weights gave (what the
guardrail does now) and of the refitted ones, per split, at thresholds 0.5 and 0.75.
"""

from __future__ import annotations

import json
import sys

import numpy as np

L2 = 0.001


def grounding_features(row):
    sentences = row["scores"]["features"]["sentences"]
    if not sentences:
        return None
    weakest = min(sentences, key=lambda s: s["score"])
    return [weakest["similarity"], weakest["coverage"], weakest["missing"], weakest["unanchored"]]


def relevance_features(row):
    f = row["scores"]["features"]
    return [f["query_similarity"], f["query_coverage"], f["off_focus"], f["focus_coverage"]]


def fit(x, y):
    x = np.hstack([np.ones((len(x), 1)), np.asarray(x, float)])
    y = np.asarray(y, float)
    w = np.zeros(x.shape[1])
    for _ in range(50_000):
        p = 1 / (1 + np.exp(-x @ w))
        grad = x.T @ (p - y) / len(y)
        grad[1:] += L2 * w[1:]
        w -= grad
    return w


def predict(w, x):
    x = np.hstack([np.ones((len(x), 1)), np.asarray(x, float)])
    return 1 / (1 + np.exp(-x @ w))


def accuracy(p, y, threshold):
    return float(np.mean((np.asarray(p) >= threshold) == np.asarray(y)))


def main(path):
    rows = [json.loads(line) for line in open(path)]
    for name, features, label, score_key, const in [
        ("grounding", grounding_features, "grounded", "grounding", "GROUNDING_WEIGHTS"),
        ("relevance", relevance_features, "relevant", "relevance", "RELEVANCE_WEIGHTS"),
    ]:
        split = {s: [r for r in rows if r["split"] == s] for s in ("calibration", "test")}
        cal = [r for r in split["calibration"] if features(r) is not None]
        w = fit([features(r) for r in cal], [r[label] for r in cal])
        print(f"const {const}: [f32; 5] = [{', '.join(f'{v:.2f}' for v in w)}];")
        for s, part in split.items():
            y = [r[label] for r in part]
            compiled = [r["scores"][score_key] for r in part]
            refit = [predict(w, [features(r)])[0] if features(r) is not None else 1.0 for r in part]
            for t in (0.5, 0.75):
                print(f"  {name} {s:11} threshold {t}: compiled {accuracy(compiled, y, t):.3f}"
                      f"  refitted {accuracy(refit, y, t):.3f}  (n={len(part)})")
        for r in split["test"]:
            if (r["scores"][score_key] >= 0.5) != r[label]:
                print(f"    wrong on test: {r['kind']:10} {r['scores'][score_key]:.2f} {r['text']}")


if __name__ == "__main__":
    main(sys.argv[1])
