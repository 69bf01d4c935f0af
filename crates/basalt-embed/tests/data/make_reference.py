"""Regenerates reference.json: sentence-transformers' vectors for the fixture texts.

    python3 -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers
    HF_HUB_OFFLINE=1 /tmp/st/bin/python make_reference.py [/tmp/basalt-models/all-MiniLM-L6-v2]

The vectors are what `SentenceTransformer.encode` returns with the model's own modules
(mean pooling + Normalize for all-MiniLM-L6-v2) and its max_seq_length truncation.
"""

import json
import os
import sys

from sentence_transformers import SentenceTransformer

LONG = " ".join(
    f"Sentence {i} of a long document about basalt columns, lava flows and cooling rock."
    for i in range(40)
)

TEXTS = [
    "Hello, world!",
    "A man is eating food.",
    "The quick brown fox jumps over the lazy dog.",
    "Basalt is a fine-grained volcanic rock formed from the rapid cooling of lava.",
    "Größe, café, naïve — 東京は日本の首都です。 Привет, мир! 🚀",
    "x",
    "   ",
    LONG,
]


def main() -> None:
    default = os.path.join(
        os.environ.get("BASALT_MODELS_DIR", "/tmp/basalt-models"), "all-MiniLM-L6-v2"
    )
    model_dir = sys.argv[1] if len(sys.argv) > 1 else default
    model = SentenceTransformer(model_dir, device="cpu")
    vectors = model.encode(TEXTS, batch_size=len(TEXTS), convert_to_numpy=True)
    tokens = [len(model.tokenizer(t)["input_ids"]) for t in TEXTS]
    fixture = {
        "model": "all-MiniLM-L6-v2",
        "max_seq_length": model.max_seq_length,
        "cases": [
            {
                "text": text,
                # Before truncation, [CLS] and [SEP] included.
                "tokens": n,
                "vector": [round(float(x), 7) for x in vector],
            }
            for text, n, vector in zip(TEXTS, tokens, vectors)
        ],
    }
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {out}: {len(TEXTS)} texts, tokens {tokens}")


if __name__ == "__main__":
    main()
