"""nDCG@10 and recall@10 of TREC run files against a qrels file.

    python evaluate.py --qrels qrels.tsv --runs DIR [--json OUT] [--name DATASET]
    python evaluate.py --summary A.json B.json ...   # mean over datasets

Standard definitions (as trec_eval's ndcg_cut.10 and BEIR's recall@10): graded gain = the
judgement's relevance, discount 1/log2(rank + 1); ideal DCG from the query's judgements sorted;
recall@k = relevant documents in the top k / relevant documents judged. Queries with no relevant
judgement are left out; a judged query missing from a run scores 0. Each hybrid run is compared
with the better single retriever (BM25 or vector) on nDCG@10 by a paired two-sided randomisation
test over queries (10,000 sign flips, fixed seed).
"""

import argparse
import collections
import json
import math
import pathlib
import random

K = 10


def read_qrels(path: pathlib.Path) -> dict:
    qrels = collections.defaultdict(dict)
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 3:
            query_id, doc_id, rel = parts
        elif len(parts) == 4:  # TREC: qid iteration docid rel
            query_id, _, doc_id, rel = parts
        else:
            continue
        if int(rel) > 0:
            qrels[query_id][doc_id] = int(rel)
    return dict(qrels)


def read_run(path: pathlib.Path) -> dict:
    ranked = collections.defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        query_id, _, doc_id, rank, _score, _ = line.split()
        ranked[query_id].append((int(rank), doc_id))
    return {q: [d for _, d in sorted(v)] for q, v in ranked.items()}


def per_query(qrels: dict, run: dict, k: int = K) -> dict:
    scores = {}
    for query_id, judged in qrels.items():
        top = run.get(query_id, [])[:k]
        dcg = sum(judged.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(top))
        ideal = sorted(judged.values(), reverse=True)[:k]
        idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
        found = sum(1 for doc in top if doc in judged)
        scores[query_id] = (dcg / idcg, found / len(judged))
    return scores


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def randomisation_p(a: list, b: list, rounds: int = 10_000, seed: int = 7) -> float:
    diffs = [x - y for x, y in zip(a, b)]
    observed = abs(sum(diffs))
    rng = random.Random(seed)
    hits = 0
    for _ in range(rounds):
        total = sum(d if rng.random() < 0.5 else -d for d in diffs)
        if abs(total) >= observed - 1e-12:
            hits += 1
    return (hits + 1) / (rounds + 1)


def evaluate(qrels_path: pathlib.Path, runs_dir: pathlib.Path, name: str) -> dict:
    qrels = read_qrels(qrels_path)
    results = {}
    per = {}
    for path in sorted(runs_dir.glob("*.trec")):
        scores = per_query(qrels, read_run(path))
        per[path.stem] = scores
        results[path.stem] = {
            "ndcg@10": mean(s[0] for s in scores.values()),
            "recall@10": mean(s[1] for s in scores.values()),
        }
    singles = [r for r in ("bm25", "vector") if r in results]
    if singles:
        best = max(singles, key=lambda r: results[r]["ndcg@10"])
        queries = sorted(qrels)
        for run, row in results.items():
            if run in singles:
                continue
            a = [per[run][q][0] for q in queries]
            b = [per[best][q][0] for q in queries]
            row["vs"] = best
            row["p_ndcg"] = randomisation_p(a, b)
    return {"dataset": name, "queries": len(qrels), "runs": results}


def order(run: str):
    head = {"bm25": 0, "vector": 1}.get(run, 2)
    return (head, run)


def table(result: dict) -> str:
    runs = result["runs"]
    singles = {r: runs[r] for r in ("bm25", "vector") if r in runs}
    lines = [
        f"{result['dataset']} ({result['queries']} judged queries)",
        "",
        "| retriever | nDCG@10 | recall@10 | beats both? | p (nDCG vs best single) |",
        "|---|---:|---:|:---:|---:|",
    ]
    for run in sorted(runs, key=order):
        row = runs[run]
        beats = ""
        if run not in singles and singles:
            ok = all(row["ndcg@10"] > s["ndcg@10"] and row["recall@10"] > s["recall@10"]
                     for s in singles.values())
            beats = "yes" if ok else "no"
        p = f"{row['p_ndcg']:.4f}" if "p_ndcg" in row else ""
        lines.append(f"| {run} | {row['ndcg@10']:.4f} | {row['recall@10']:.4f} | {beats} | {p} |")
    return "\n".join(lines)


def summary(paths: list) -> str:
    results = [json.loads(pathlib.Path(p).read_text()) for p in paths]
    names = [r["dataset"] for r in results]
    runs = sorted(set.intersection(*(set(r["runs"]) for r in results)), key=order)
    header = "| retriever | " + " | ".join(f"{n} nDCG@10 | {n} R@10" for n in names)
    header += " | mean nDCG@10 | mean R@10 | beats both on every dataset? |"
    lines = [header, "|---|" + "---:|" * (2 * len(names) + 2) + ":---:|"]
    for run in runs:
        cells, beats = [], run not in ("bm25", "vector")
        for r in results:
            row = r["runs"][run]
            cells += [f"{row['ndcg@10']:.4f}", f"{row['recall@10']:.4f}"]
            for single in ("bm25", "vector"):
                s = r["runs"][single]
                if not (row["ndcg@10"] > s["ndcg@10"] and row["recall@10"] > s["recall@10"]):
                    beats = False
        m_ndcg = mean(r["runs"][run]["ndcg@10"] for r in results)
        m_rec = mean(r["runs"][run]["recall@10"] for r in results)
        flag = "" if run in ("bm25", "vector") else ("yes" if beats else "no")
        lines.append(f"| {run} | " + " | ".join(cells) + f" | {m_ndcg:.4f} | {m_rec:.4f} | {flag} |")
    best = max((r for r in runs if r not in ("bm25", "vector")),
               key=lambda r: mean(x["runs"][r]["ndcg@10"] for x in results))
    lines += ["", f"best hybrid by mean nDCG@10: {best}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qrels", type=pathlib.Path)
    parser.add_argument("--runs", type=pathlib.Path)
    parser.add_argument("--name")
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--summary", nargs="+")
    args = parser.parse_args()
    if args.summary:
        print(summary(args.summary))
        return
    if not (args.qrels and args.runs):
        parser.error("--qrels and --runs are required (or --summary)")
    result = evaluate(args.qrels, args.runs, args.name or args.runs.name)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    print(table(result))


if __name__ == "__main__":
    main()
