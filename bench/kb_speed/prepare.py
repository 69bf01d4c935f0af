"""Builds the speed benchmark's corpus: the docstrings of the Python standard library and of the
pinned packages in requirements.txt (read from their sources with `ast`, never imported), cut
into chunks of 40 words with 8 words of overlap (20%), one document per module. Queries are the
first sentences of 300 function docstrings picked with a fixed seed.

Writes chunks.jsonl ({"id", "document", "text"}), documents.jsonl ({"id", "text"}) and
queries.jsonl ({"id", "text"}) under --out.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sysconfig
from pathlib import Path

WINDOW = 40
STRIDE = 32
PACKAGES = ["sympy", "networkx", "scipy", "pandas", "numpy", "matplotlib", "sqlalchemy", "django", "astropy", "sphinx", "docutils"]


def sources(site: Path):
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        parts = set(path.relative_to(stdlib).parts)
        if "site-packages" in parts or "test" in parts or "tests" in parts:
            continue
        yield "stdlib/" + str(path.relative_to(stdlib)), path
    for package in PACKAGES:
        for path in sorted((site / package).rglob("*.py")):
            if "tests" in path.parts:
                continue
            yield str(path.relative_to(site)), path


def docstrings(path: Path):
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and len(doc.split()) >= 5:
                yield node, doc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", required=True, type=Path, help="site-packages holding the packages")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--min-chunks", type=int, default=100_000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chunks, documents, candidates = [], [], []
    for name, path in sources(args.site):
        words = []
        for node, doc in docstrings(path):
            words.extend(doc.split())
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = doc.strip().split("\n\n")[0].replace("\n", " ").split(". ")[0].strip()
                if 6 <= len(first.split()) <= 25:
                    candidates.append(first)
        if len(words) < 10:
            continue
        documents.append({"id": name, "text": " ".join(words)})
        for n, start in enumerate(range(0, max(len(words) - WINDOW + STRIDE, 1), STRIDE)):
            chunks.append({"id": f"{name}#{n}", "document": name, "text": " ".join(words[start:start + WINDOW])})
    if len(chunks) < args.min_chunks:
        raise SystemExit(f"only {len(chunks)} chunks; need {args.min_chunks}")
    rng = random.Random(20261123)
    queries = [{"id": f"q{n}", "text": text} for n, text in enumerate(rng.sample(sorted(set(candidates)), 300))]
    for name, rows in (("chunks", chunks), ("documents", documents), ("queries", queries)):
        with open(args.out / f"{name}.jsonl", "w") as out:
            for row in rows:
                out.write(json.dumps(row) + "\n")
    words = sum(len(c["text"].split()) for c in chunks)
    print(f"{len(documents)} documents, {len(chunks)} chunks ({words / len(chunks):.1f} words each), {len(queries)} queries")


if __name__ == "__main__":
    main()
