"""sentence-transformers' texts per second on the texts examples/embed_speed.rs uses.

    python3 -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers
    HF_HUB_OFFLINE=1 /tmp/st/bin/python bench/embeddings_speed.py [MODEL_DIR] [THREADS]
"""

import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def short_texts(n):
    return [
        f"Query {i}: how do basalt columns form when a thick lava flow cools slowly and contracts?"
        for i in range(n)
    ]


def long_texts(n):
    return [
        " ".join(f"Passage {i} sentence {j} about lava, rock and cooling." for j in range(30))
        for i in range(n)
    ]


def rate(model, texts, batch, budget=5.0):
    model.encode(texts[:batch], batch_size=batch, normalize_embeddings=True)
    started = time.perf_counter()
    done = 0
    while time.perf_counter() - started < budget:
        for i in range(0, len(texts), batch):
            chunk = texts[i : i + batch]
            model.encode(chunk, batch_size=batch, normalize_embeddings=True)
            done += len(chunk)
    return done / (time.perf_counter() - started)


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/basalt-models/all-MiniLM-L6-v2"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    model = SentenceTransformer(model_dir, device="cpu")
    for name, texts in (("short", short_texts(64)), ("long", long_texts(64))):
        tokens = min(len(model.tokenizer(texts[0])["input_ids"]), model.max_seq_length)
        for batch in (1, 32):
            with torch.inference_mode():
                per_s = rate(model, texts, batch)
            print(
                f"sentence-transformers {torch.__version__} threads={threads} texts={name} "
                f"tokens={tokens} batch={batch} texts_per_s={per_s:.1f}"
            )


if __name__ == "__main__":
    main()
