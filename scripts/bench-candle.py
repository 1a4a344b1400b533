"""Sentences per second of sentence-transformers on all-MiniLM-L6-v2 at batch 1 and 32, CPU, with the thread count
given (the same sentences as crates/candle/examples/bench_minilm.rs). Usage: bench-candle.py <model_dir> <threads>
[seconds]."""

import sys
import time

import torch
from sentence_transformers import SentenceTransformer

BASE = [
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "Seldon Core turns machine learning models into production REST and gRPC microservices.",
    "The new movie is awesome, and the soundtrack is even better than the trailer promised.",
    "Two dogs are playing in the snow while their owner takes pictures from the porch.",
    "Dynamic batching pads every sequence to the longest one in the batch before the encoder runs.",
    "How do I reset my password if I no longer have access to the email address on my account?",
    "The quick brown fox jumps over the lazy dog.",
]
SENTENCES = [BASE[i % len(BASE)] for i in range(32)]


def main():
    model_dir, threads = sys.argv[1], int(sys.argv[2])
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    torch.set_num_threads(threads)
    model = SentenceTransformer(model_dir, device="cpu")
    for batch in (1, 32):
        model.encode(SENTENCES[:batch], batch_size=batch)
        done, i, start = 0, 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            texts = [SENTENCES[(i + k) % len(SENTENCES)] for k in range(batch)]
            with torch.inference_mode():
                model.encode(texts, batch_size=batch)
            done += batch
            i += batch
        rate = done / (time.perf_counter() - start)
        print(f"sentence-transformers batch={batch}: {rate:.1f} sentences/s (torch {torch.__version__}, {threads} threads)")


if __name__ == "__main__":
    main()
