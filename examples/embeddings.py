"""Word embeddings, a short tour: train, similar words, an analogy, a map, debiasing.

Trains skip-gram word2vec on the shipped "tiny shakespeare" (about 200,000 words), or loads
pre-trained vectors you give (GloVe or word2vec files, e.g. glove.6B.50d.txt), then:

1. the nearest words to a few queries (cosine similarity);
2. an analogy, man : woman :: king : ? (3CosAdd);
3. a 2-D map (PCA, or t-SNE with scikit-learn) with analogy arrows, written as a PNG;
4. hard debiasing (Bolukbasi et al. 2016): neutralize and equalize, with the report.

    python examples/embeddings.py                       # about 20 s on a laptop CPU
    python examples/embeddings.py --vectors glove.6B.50d.txt --limit 40000 --map tsne
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from seqlab.data.datasets import load_dataset
from seqlab.embeddings.corpus import SentenceCorpus
from seqlab.embeddings.debias import debias
from seqlab.embeddings.keyed_vectors import KeyedVectors
from seqlab.embeddings.word2vec import Word2VecConfig, train_word2vec
from seqlab.viz.embeddings import plot_embeddings

QUERIES = ("king", "love", "night", "france")
MAP_WORDS = (
    "king queen prince princess duke duchess lord lady man woman father mother son daughter "
    "brother sister husband wife uncle aunt boy girl he she sword crown love hate night day "
    "heaven earth sun moon blood death life france england rome"
).split()


def shakespeare_vectors(seed: int, epochs: int = 10) -> KeyedVectors:
    """Skip-gram with negative sampling on tiny shakespeare, lower-cased, one line a sentence."""
    text = load_dataset("tinyshakespeare").train
    sentences = [re.findall(r"[a-z']+", line.lower()) for line in text.splitlines()]
    corpus = SentenceCorpus([s for s in sentences if s])
    config = Word2VecConfig(vector_size=100, window=5, min_count=5, epochs=epochs, seed=seed)
    result = train_word2vec(corpus, config, progress=True)
    print(
        f"trained {len(result.vectors):,} word vectors in {result.seconds:.1f} s "
        f"({result.words_per_second:,.0f} words/s); "
        f"loss per epoch {[round(x, 3) for x in result.epoch_losses]}"
    )
    return result.vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, help="pre-trained vectors instead of training")
    parser.add_argument("--limit", type=int, default=None, help="read only the first N vectors")
    parser.add_argument("--map", choices=("pca", "tsne"), default="pca", help="projection")
    parser.add_argument("--out", type=Path, default=Path("embeddings_map.png"), help="PNG")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=10, help="word2vec epochs")
    args = parser.parse_args()

    kv = (
        KeyedVectors.load(args.vectors, limit=args.limit)
        if args.vectors
        else shakespeare_vectors(args.seed, args.epochs)
    )

    print("\nnearest words (cosine):")
    for word in QUERIES:
        if word in kv:
            near = ", ".join(f"{w} {s:.2f}" for w, s in kv.most_similar(word, topn=5))
            print(f"  {word:<8} {near}")

    if all(w in kv for w in ("man", "woman", "king")):
        answers = kv.analogy("man", "woman", "king", topn=3)
        print("\n" + "\n".join(f"man : woman :: king : {w} ({s:.2f})" for w, s in answers))

    words = [w for w in MAP_WORDS if w in kv]
    plot_embeddings(kv, words, method=args.map, seed=args.seed, out=args.out)
    print(f"\nmap of {len(words)} words: {args.out}")

    # the shipped analogy questions measure whether debiasing hurts quality (pre-trained only)
    _, report = debias(kv, analogies=args.vectors is not None, restrict_vocab=30000)
    print("\n" + report.format())


if __name__ == "__main__":
    main()
