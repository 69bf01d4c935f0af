"""Turns the labelled Semanlink data shipped inside the `cherche` wheel into BEIR-style files.

    python prepare.py --out DIR

writes, for each dataset, DIR/<dataset>/corpus.jsonl ({"_id", "text"}), queries.jsonl
({"_id", "text"}) and qrels.tsv (query id, document id, relevance; no header).

The data: cherche (MIT licence) ships `cherche/data/semanlink/{arxiv,tags,docs}.json`, a dump of
Semanlink (François-Paul Servant's tagged bookmark base). Every bookmark carries the tags its
curator gave it by hand; cherche's `data.arxiv_tags()` uses the arXiv bookmarks to "evaluate a
neural search pipeline for automatic tagging of arXiv documents". Two datasets come out of it:

- `semanlink-arxiv-tags` (cherche's own task, on the full tag vocabulary): a query is an arXiv
  paper's title and abstract, the corpus is every Semanlink tag (its label, other labels, broader
  tags' labels, comment), and the relevant documents are the tags the curator put on the paper.
  cherche's loader keeps only the tags that some arXiv paper has, which leaks the answers into
  the corpus; here the corpus is all of them.
- `semanlink-tag-docs` (the same labels read the other way): a query is a tag's label, the corpus
  is every bookmark with at least 40 characters of text (title, comment, arXiv title and
  abstract), and the relevant documents are the bookmarks carrying that tag. Tags with 3 to 30
  such bookmarks are the queries.

The generic `arxiv_doc` tag (on every arXiv bookmark) is left out of both.
"""

import argparse
import collections
import importlib.util
import json
import pathlib

GENERIC_TAG = "http://www.semanlink.net/tag/arxiv_doc"
MIN_DOC_CHARS = 40
TAG_QUERY_MIN, TAG_QUERY_MAX = 3, 30


def data_dir() -> pathlib.Path:
    # find_spec does not run cherche/__init__.py, so its (unneeded) dependencies can stay out.
    spec = importlib.util.find_spec("cherche")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("cherche is not installed (pip install --no-deps cherche==2.2.1)")
    return pathlib.Path(list(spec.submodule_search_locations)[0]) / "data" / "semanlink"


def slug(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def clean(text: str) -> str:
    return " ".join(text.split())


def tag_text(tag: dict) -> str:
    parts = [" / ".join(tag.get("prefLabel", []))]
    if tag.get("altLabel"):
        parts.append("Also: " + ", ".join(tag["altLabel"]))
    broader = tag.get("broader_prefLabel", []) + tag.get("broader_altLabel", [])
    if broader:
        parts.append("Broader: " + ", ".join(broader))
    if tag.get("comment"):
        parts.append(tag["comment"])
    return clean(". ".join(p for p in parts if p))


def doc_text(doc: dict) -> str:
    parts = [doc.get(k, "") for k in ("title", "comment", "arxiv_title", "arxiv_summary")]
    return clean(" ".join(p for p in parts if p))


def write(out: pathlib.Path, corpus, queries, qrels) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc_id, text in corpus:
            f.write(json.dumps({"_id": doc_id, "text": text}, ensure_ascii=False) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for query_id, text in queries:
            f.write(json.dumps({"_id": query_id, "text": text}, ensure_ascii=False) + "\n")
    with open(out / "qrels.tsv", "w", encoding="utf-8") as f:
        for query_id, doc_id, rel in qrels:
            f.write(f"{query_id}\t{doc_id}\t{rel}\n")
    judged = len({q for q, _, _ in qrels})
    print(f"{out.name}: {len(corpus)} documents, {len(queries)} queries ({judged} judged), "
          f"{len(qrels)} relevant pairs")


def arxiv_tags(src: pathlib.Path, out: pathlib.Path) -> None:
    tags = json.loads((src / "tags.json").read_text(encoding="utf-8"))
    papers = json.loads((src / "arxiv.json").read_text(encoding="utf-8"))
    ids = {uri: slug(uri) for uri in tags}
    assert len(set(ids.values())) == len(ids), "tag slugs are not unique"
    corpus = [(ids[uri], tag_text(tag)) for uri, tag in sorted(tags.items()) if uri != GENERIC_TAG]
    corpus = [(i, t) for i, t in corpus if t]
    in_corpus = {i for i, _ in corpus}
    queries, qrels = [], []
    for n, paper in enumerate(papers):
        query_id = f"arxiv-{paper.get('arxiv_num') or n}"
        queries.append((query_id, clean(f"{paper['arxiv_title']} {paper['arxiv_summary']}")))
        for uri in sorted(set(paper["tag"])):
            if uri != GENERIC_TAG and ids.get(uri) in in_corpus:
                qrels.append((query_id, ids[uri], 1))
    assert len({q for q, _ in queries}) == len(queries), "query ids are not unique"
    write(out, corpus, queries, qrels)


def tag_docs(src: pathlib.Path, out: pathlib.Path) -> None:
    tags = json.loads((src / "tags.json").read_text(encoding="utf-8"))
    docs = json.loads((src / "docs.json").read_text(encoding="utf-8"))
    corpus, tagged = [], collections.defaultdict(list)
    for n, doc in enumerate(docs):
        text = doc_text(doc)
        if len(text) < MIN_DOC_CHARS:
            continue
        doc_id = f"doc-{n:05d}"
        corpus.append((doc_id, text))
        for uri in sorted(set(doc["tag"])):
            tagged[uri].append(doc_id)
    queries, qrels = [], []
    for uri in sorted(tagged):
        if uri == GENERIC_TAG or uri not in tags:
            continue
        if not TAG_QUERY_MIN <= len(tagged[uri]) <= TAG_QUERY_MAX:
            continue
        label = clean(" / ".join(tags[uri].get("prefLabel", [])))
        if not label:
            continue
        query_id = f"tag-{slug(uri)}"
        queries.append((query_id, label))
        qrels.extend((query_id, doc_id, 1) for doc_id in tagged[uri])
    write(out, corpus, queries, qrels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=pathlib.Path)
    args = parser.parse_args()
    src = data_dir()
    arxiv_tags(src, args.out / "semanlink-arxiv-tags")
    tag_docs(src, args.out / "semanlink-tag-docs")


if __name__ == "__main__":
    main()
