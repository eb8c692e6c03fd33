"""``seqlab embed ...``: train word vectors, query them, evaluate, plot, debias, convert.

Every command that reads vectors takes ``--limit N`` (read only the first N, usually the most
frequent) and reads word2vec text/binary and GloVe files, plain or ``.gz`` (format detected).
Unknown words are a one-line error naming them; malformed files a one-line error naming the
file and line; both exit with status 2.
"""

from __future__ import annotations

import dataclasses
import functools
import unicodedata
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from seqlab.cli._common import (
    fail,
    name_flags,
    output_folder,
    output_path,
    print_json,
    user_errors,
)

if TYPE_CHECKING:
    from seqlab.embeddings.keyed_vectors import KeyedVectors

app = typer.Typer(
    help="Word embeddings: train (word2vec, GloVe, NNLM), similar words, analogies, "
    "evaluation, t-SNE/PCA maps, debiasing, format conversion.",
    no_args_is_help=True,
)

F = TypeVar("F", bound=Callable[..., Any])

_FORMATS = ("word2vec", "word2vec-binary", "glove")


def _vector_errors(fn: F) -> F:
    """Unknown words (``OOVError``, a ``KeyError``) and a missing t-SNE library: exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from seqlab.embeddings.keyed_vectors import OOVError

        try:
            return fn(*args, **kwargs)
        except OOVError as exc:
            raise fail(str(exc)) from None
        except ImportError as exc:
            if "pip install" in str(exc):
                raise fail(str(exc)) from None
            raise

    return wrapper  # type: ignore[return-value]


def _at_least_one(**options: int | None) -> None:
    """Exit 2 naming the option when a count option (``topn=3`` is ``--topn 3``) is below 1.

    ``None`` is an option left out. Without this, ``--topn 0`` printed nothing and exited 0.
    """
    for name, value in options.items():
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise fail(f"{flag} must be at least 1, got {value}")


def _not_negative(**options: int) -> None:
    """Exit 2 naming the option when an option that may be 0 (``--seed``) is negative."""
    for name, value in options.items():
        if value < 0:
            raise fail(f"--{name.replace('_', '-')} must be at least 0, got {value}")


def _load(path: Path, limit: int | None, fmt: str = "auto") -> KeyedVectors:
    from seqlab.embeddings.keyed_vectors import KeyedVectors

    _at_least_one(limit=limit)
    return KeyedVectors.load(path, format=fmt, limit=limit)  # type: ignore[arg-type]


def _check_format(fmt: str, option: str) -> str:
    if fmt not in _FORMATS:
        raise fail(f"{option} must be one of {', '.join(_FORMATS)}, got {fmt!r}")
    return fmt


# ---------------------------------------------------------------------------------- train


# The option of `embed train` that sets each config field, for the error messages.
_OPTION_OF_FIELD = {
    "vector_size": "--dim",
    "window": "--window",
    "context_size": "--window",
    "negative": "--negative",
    "update": "--update",
    "method": "--method",
    "objective": "--objective",
    "ns_exponent": "--ns-exponent",
    "sample": "--sample",
    "alpha": "--alpha",
    "learning_rate": "--alpha",
    "x_max": "--x-max",
    "combine": "--combine",
    "max_vocab_size": "--max-vocab",
    "min_count": "--min-count",
    "epochs": "--epochs",
    "workers": "--workers",
    "seed": "--seed",
}


def _config(cls: type, values: dict[str, Any]) -> Any:
    """``cls(**values)`` keeping only the fields ``cls`` has and the values the user gave.

    A value the config refuses is a one-line error naming the options, not the fields
    (``--dim must be ...``, not ``vector_size must be ...``; ``--update=hogbatch needs
    --method=skipgram ...``).
    """
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return cls(**{k: v for k, v in values.items() if k in names and v is not None})
    except ValueError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise fail(name_flags(message, _OPTION_OF_FIELD)) from None


_WORD2VEC = ("skipgram", "cbow")
_UPDATES = ("auto", "pair", "hogbatch")
_METHODS = (*_WORD2VEC, "glove", "nnlm")
# Options of `embed train` that only some methods read: option -> (default, methods).
_ONLY_FOR: dict[str, tuple[Any, tuple[str, ...]]] = {
    "--objective": ("negative", _WORD2VEC),
    "--negative": (None, _WORD2VEC),
    "--update": ("auto", _WORD2VEC),
    "--ns-exponent": (0.75, _WORD2VEC),
    "--sample": (1e-3, _WORD2VEC),
    "--x-max": (100.0, ("glove",)),
    "--combine": ("sum", ("glove",)),
    "--memory": (4.0, ("glove",)),
    "--workers": (2, (*_WORD2VEC, "glove")),
}


def _check_options(method: str, objective: str, given: dict[str, Any]) -> None:
    """Exit 2 when an option that ``method`` does not read is set to a non-default value."""
    for option, value in given.items():
        default, methods = _ONLY_FOR[option]
        if value != default and method not in methods:
            raise fail(
                f"{option} {value} does not apply to --method {method} (it is for "
                f"{' and '.join(methods)}); leave it out"
            )
        if (
            option in ("--negative", "--ns-exponent", "--update")
            and value != default
            and method in _WORD2VEC
            and objective != "negative"
        ):
            raise fail(
                f"{option} {value} applies to --objective negative only, not {objective!r}; "
                "leave it out"
            )


_TOKENIZE = ("whitespace", "simple", "text8", "words")


def _carries_punctuation(word: str) -> bool:
    """A word with a letter and punctuation at an end: ``Meanwhile,``, ``(the``, ``said."``."""
    return (
        len(word) > 1
        and any(c.isalpha() for c in word)
        and (unicodedata.category(word[0])[0] == "P" or unicodedata.category(word[-1])[0] == "P")
    )


def _note_punctuation(words: list[str], share: float = 0.02) -> None:
    """On stderr: a hint at --tokenize simple when at least ``share`` of the words carry
    punctuation, the sign of raw prose split on whitespace."""
    marked = [w for w in words if _carries_punctuation(w)]
    if marked and len(marked) >= share * len(words):
        examples = ", ".join(repr(w) for w in marked[:3])
        typer.echo(
            f"note: {len(marked):,} of the {len(words):,} words carry punctuation ({examples}"
            f"{', ...' if len(marked) > 3 else ''}); --tokenize simple splits it off",
            err=True,
        )


@app.command()
@user_errors
@_vector_errors
def train(
    corpus: Path = typer.Option(..., "--corpus", help="Training text: one sentence per line."),
    out: Path = typer.Option(..., "--out", "-o", help="Vectors file to write."),
    method: str = typer.Option("skipgram", help="skipgram, cbow, glove or nnlm."),
    objective: str = typer.Option(
        "negative", help="word2vec output layer: negative, hierarchical or softmax."
    ),
    dim: int = typer.Option(100, "--dim", help="Vector size E."),
    window: int | None = typer.Option(
        None, help="Context words on each side (NNLM: context size); default: the method's."
    ),
    negative: int | None = typer.Option(
        None,
        help="Noise words (word2vec negative sampling): per (context, center) pair with "
        "--update pair, per center word with hogbatch; default: 5 for pair, 8 for hogbatch.",
        show_default=False,
    ),
    update: str = typer.Option(
        "auto",
        help="word2vec update with --objective negative: hogbatch (one step per center word "
        "on its window, whose pairs share the noise words; Ji et al. 2016) or pair (one step "
        "per pair, as word2vec.c and gensim). auto: hogbatch for skipgram on the CPU, else "
        "pair (cbow, the GPU engine).",
    ),
    ns_exponent: float = typer.Option(0.75, help="Noise distribution ∝ count^this (word2vec)."),
    sample: float = typer.Option(1e-3, help="Subsampling threshold t (word2vec)."),
    alpha: float | None = typer.Option(
        None,
        help="Initial learning rate: word2vec's alpha, GloVe's AdaGrad eta, NNLM's AdamW lr; "
        "default: the method's.",
    ),
    x_max: float = typer.Option(100.0, help="GloVe weighting f(x) = min(1, (x/x_max)^0.75)."),
    combine: str = typer.Option("sum", help="GloVe output: sum (W + W~), average or word (W)."),
    memory: float = typer.Option(
        4.0,
        help="GloVe: GB of memory for counting co-occurrences (cooccur.c's -memory); "
        "sorted runs beyond it spill to the temp folder ($TMPDIR) and are merged.",
    ),
    max_vocab: int | None = typer.Option(None, help="Keep only the most frequent words."),
    min_count: int = typer.Option(5, help="Rarer words are left out."),
    epochs: int | None = typer.Option(None, help="Passes over the corpus; default: the method's."),
    workers: int = typer.Option(2, help="CPU worker threads (word2vec and GloVe)."),
    seed: int = typer.Option(1, help="Random seed."),
    device: str = typer.Option(
        "auto",
        help="auto, cpu, cuda or cuda:N. auto: cuda when torch sees a GPU and the method has a "
        "GPU path, else cpu. GPU paths: skip-gram with --objective negative (word2vec's torch "
        "engine; cbow, hierarchical and softmax are CPU-only numba kernels) and nnlm (a torch "
        "model). glove: auto is the CPU numba engine; --device cuda runs its torch engine.",
    ),
    tokenize: str = typer.Option(
        "whitespace",
        help="What a word is. whitespace (default): split on spaces only, as gensim's "
        "LineSentence (for text8 and pre-tokenised text; in raw prose 'Meanwhile,' stays one "
        "word). simple: gensim's simple_preprocess (lower-case, runs of letters, punctuation "
        "and digits dropped, 2-15 letters). text8: word2vec's text8 normalisation (a-z only, "
        "digits spelled out). words: seqlab's word tokenizer (words and punctuation marks, "
        "Don't -> Don 't): the tokens of `seqlab classify --tokens word`, to train vectors for "
        "it.",
    ),
    lowercase: bool = typer.Option(
        False, help="Lower-case every word (simple and text8 lower-case anyway)."
    ),
    fmt: str = typer.Option("word2vec", "--format", help="word2vec, word2vec-binary or glove."),
    progress: bool = typer.Option(True, help="Progress bar on stderr."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Train word vectors on a text file and save them.

    The corpus is one sentence per line (plain or .gz). Raw prose wants --tokenize simple;
    with the default (whitespace) a note says when many words carry punctuation.

    Options that the chosen method does not read (--objective, --negative, --update,
    --ns-exponent, --sample for word2vec; --x-max, --combine, --memory for GloVe; --workers for
    word2vec and GloVe) are an error when set to another value than their default.
    """
    _check_format(fmt, "--format")
    if method not in _METHODS:
        raise fail(f"--method must be skipgram, cbow, glove or nnlm, got {method!r}")
    if method in _WORD2VEC and objective not in ("negative", "hierarchical", "softmax"):
        raise fail(f"--objective must be negative, hierarchical or softmax, got {objective!r}")
    if update not in _UPDATES:
        raise fail(f"--update must be auto, pair or hogbatch, got {update!r}")
    if tokenize not in _TOKENIZE:
        raise fail(
            f"--tokenize must be {', '.join(_TOKENIZE[:-1])} or {_TOKENIZE[-1]}, got {tokenize!r}"
        )
    _check_options(
        method,
        objective,
        {
            "--objective": objective,
            "--negative": negative,
            "--update": update,
            "--ns-exponent": ns_exponent,
            "--sample": sample,
            "--x-max": x_max,
            "--combine": combine,
            "--memory": memory,
            "--workers": workers,
        },
    )
    if not memory > 0:
        raise fail(f"--memory must be > 0 (GB), got {memory:g}")
    _at_least_one(
        dim=dim,
        window=window,
        min_count=min_count,
        max_vocab=max_vocab,
        epochs=epochs,
        workers=workers,
    )
    if method in _WORD2VEC and objective == "negative":
        _at_least_one(negative=negative)
    _not_negative(seed=seed)
    output_path(out, "--out")
    from seqlab.embeddings.corpus import SentenceCorpus

    common = {"vector_size": dim, "min_count": min_count, "epochs": epochs, "seed": seed}
    common |= {"max_vocab_size": max_vocab}
    common |= {"device": device, "workers": workers}
    config: Any
    if method in _WORD2VEC:
        from seqlab.embeddings.word2vec import Word2VecConfig, train_word2vec

        values = {"method": method, "objective": objective, "window": window, "negative": negative}
        values |= {"update": update}
        values |= {"ns_exponent": ns_exponent, "sample": sample, "alpha": alpha}
        config = _config(Word2VecConfig, common | values)
        trainer: Callable[..., Any] = train_word2vec
    elif method == "glove":
        from seqlab.embeddings.glove import GloVeConfig, train_glove

        values = {"window": window, "x_max": x_max, "combine": combine, "learning_rate": alpha}
        values |= {"memory_limit_mb": memory * 1024}
        config = _config(GloVeConfig, common | values)
        trainer = train_glove
    else:
        from seqlab.embeddings.nnlm import NNLMConfig, train_nnlm

        values = {"context_size": window, "learning_rate": alpha}
        config = _config(NNLMConfig, common | values)
        trainer = train_nnlm
    sentences = SentenceCorpus(corpus, lowercase=lowercase, tokenize=tokenize)  # type: ignore[arg-type]
    result = trainer(sentences, config, progress=progress)
    kv = result.vectors
    kv.save(out, format=fmt)  # type: ignore[arg-type]
    if tokenize == "whitespace":
        _note_punctuation(kv.index_to_key)
    summary = {
        "out": str(out),
        "format": fmt,
        "method": method,
        "tokenize": tokenize,
        "device": config.device,
        "vocab_size": len(kv),
        "vector_size": kv.vector_size,
        "epoch_losses": [float(x) for x in result.epoch_losses],
        "seconds": round(float(result.seconds), 3),
        "words_per_second": round(float(result.words_per_second), 1),
    }
    if method in _WORD2VEC:  # what ran: "auto" and the default noise words resolved
        summary |= {"update": result.config["update"], "negative": result.config["negative"]}
    if result.counting_seconds is not None:
        summary["counting_seconds"] = round(float(result.counting_seconds), 3)
    if json_out:
        print_json(summary)
        return
    for i, loss in enumerate(result.epoch_losses, 1):
        typer.echo(f"epoch {i:>3}  loss {loss:.4f}")
    counting = (
        f", counting co-occurrences {result.counting_seconds:.1f} s"
        if result.counting_seconds is not None
        else ""
    )
    typer.echo(
        f"trained {method} vectors on {config.device}: {len(kv):,} words x {kv.vector_size} "
        f"dims in {result.seconds:.1f} s ({result.words_per_second:,.0f} words/s of "
        f"training{counting})"
    )
    typer.echo(f"wrote {out} ({fmt})")


# -------------------------------------------------------------------------------- queries


@app.command()
@user_errors
@_vector_errors
def similar(
    vectors: Path = typer.Argument(..., help="A vectors file."),
    word: str = typer.Argument(..., help="The query word."),
    topn: int = typer.Option(10, help="How many neighbours."),
    restrict_vocab: int | None = typer.Option(None, help="Search only the N most frequent words."),
    limit: int | None = typer.Option(None, help="Read only the first N vectors."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The nearest words by cosine similarity."""
    _at_least_one(topn=topn, restrict_vocab=restrict_vocab)
    kv = _load(vectors, limit)
    hits = kv.most_similar(positive=[word], topn=topn, restrict_vocab=restrict_vocab)
    if json_out:
        print_json([{"word": w, "similarity": s} for w, s in hits])
        return
    width = max([len(w) for w, _ in hits] + [4])
    typer.echo(f"{'word':<{width}}  cosine")
    for w, s in hits:
        typer.echo(f"{w:<{width}}  {s:.4f}")


@app.command()
@user_errors
@_vector_errors
def analogy(
    vectors: Path = typer.Argument(..., help="A vectors file."),
    a: str = typer.Argument(..., help="a in a : b :: c : ?"),
    b: str = typer.Argument(..., help="b"),
    c: str = typer.Argument(..., help="c"),
    method: str = typer.Option("3cosadd", help="3cosadd or 3cosmul."),
    topn: int = typer.Option(1, help="How many answers."),
    restrict_vocab: int | None = typer.Option(None, help="Search only the N most frequent words."),
    limit: int | None = typer.Option(None, help="Read only the first N vectors."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Solve a : b :: c : ? (man : woman :: king : queen)."""
    _at_least_one(topn=topn, restrict_vocab=restrict_vocab)
    if method not in ("3cosadd", "3cosmul"):
        raise fail(f"--method must be 3cosadd or 3cosmul, got {method!r}")
    kv = _load(vectors, limit)
    answers = kv.analogy(
        a,
        b,
        c,
        method=method,  # type: ignore[arg-type]
        topn=topn,
        restrict_vocab=restrict_vocab,
    )
    if json_out:
        print_json(
            {"a": a, "b": b, "c": c, "method": method}
            | {"answers": [{"word": w, "score": s} for w, s in answers]}
        )
        return
    for w, s in answers:
        typer.echo(f"{a} : {b} :: {c} : {w} ({s:.2f})")


@app.command()
@user_errors
@_vector_errors
def evaluate(
    vectors: Path = typer.Argument(..., help="A vectors file."),
    analogies: Path | None = typer.Option(
        None, help="Analogy questions (questions-words format); default: the shipped file."
    ),
    similarity: list[str] | None = typer.Option(
        None, help="wordsim353, simlex999 or a file of 'w1 w2 score' lines (repeatable)."
    ),
    restrict_vocab: int = typer.Option(
        300000,
        help="Analogies only: questions and answers among the N most frequent words "
        "(similarity pairs use the whole vocabulary).",
    ),
    method: str = typer.Option("3cosadd", help="Analogies: 3cosadd or 3cosmul."),
    limit: int | None = typer.Option(None, help="Read only the first N vectors."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Analogy accuracy and word-similarity Spearman correlations.

    With neither --analogies nor --similarity: the shipped analogy questions, WordSim-353 and
    SimLex-999. With only --similarity: those similarity sets only. Similarity pairs with a
    word outside the vocabulary are skipped and counted.
    """
    from seqlab.embeddings.evaluate import evaluate_analogies, evaluate_similarity

    _at_least_one(restrict_vocab=restrict_vocab)
    if method not in ("3cosadd", "3cosmul"):
        raise fail(f"--method must be 3cosadd or 3cosmul, got {method!r}")
    kv = _load(vectors, limit)
    run_analogies = analogies is not None or not similarity
    datasets = list(similarity) if similarity else []
    if analogies is None and not similarity:
        datasets = ["wordsim353", "simlex999"]
    out: dict[str, Any] = {}
    lines: list[str] = []
    if run_analogies:
        res = evaluate_analogies(kv, analogies, restrict_vocab=restrict_vocab, method=method)
        out["analogies"] = res.to_dict()
        lines.append(res.format())
    for name in datasets:
        arg: str | Path = name if name in ("wordsim353", "simlex999") else Path(name)
        # --restrict-vocab is for the analogies' search; similarity looks up every word
        sim = evaluate_similarity(kv, arg, restrict_vocab=None)  # type: ignore[arg-type]
        out.setdefault("similarity", {})[name] = sim.to_dict()
        lines.append(sim.format())
    if json_out:
        print_json(out)
        return
    typer.echo("\n".join(lines))


# ------------------------------------------------------------------------------ pictures


def _split_words(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


def _parse_arrows(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in _split_words(text):
        parts = item.split(":")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise fail(f"--arrows takes pairs like man:woman,king:queen; got {item!r}")
        pairs.append((parts[0], parts[1]))
    return pairs


@app.command()
@user_errors
@_vector_errors
def plot(
    vectors: Path = typer.Argument(..., help="A vectors file."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG file to write."),
    words: str | None = typer.Option(None, help="Comma-separated words to plot."),
    top: int | None = typer.Option(None, help="Plot the N most frequent words."),
    method: str = typer.Option("tsne", help="tsne (scikit-learn) or pca."),
    arrows: str | None = typer.Option(
        None,
        help='Analogy arrows a:b,c:d (default: man:woman,king:queen where known; --arrows "" '
        "draws none). An arrow is drawn at least 18 points long; a note says when its words "
        "were moved apart for that.",
    ),
    context: int = typer.Option(
        5,
        help="Nearest neighbours added with each arrow word that --words/--top lacks, so that "
        "t-SNE does not squeeze the arrow words together (0: none).",
    ),
    seed: int = typer.Option(0, help="t-SNE random state."),
    title: str | None = typer.Option(None, help="Figure title."),
    limit: int | None = typer.Option(None, help="Read only the first N vectors."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """A 2-D map (t-SNE or PCA) of word vectors with analogy arrows."""
    from seqlab.viz.embeddings import ShortArrowWarning, plot_embeddings

    if (words is None) == (top is None):
        raise fail("give exactly one of --words w1,w2,... or --top N")
    _at_least_one(top=top, limit=limit)
    _not_negative(seed=seed, context=context)
    if method not in ("tsne", "pca"):
        raise fail(f"--method must be tsne or pca, got {method!r}")
    pairs = _parse_arrows(arrows) if arrows is not None else None
    output_path(out, "--out")
    kv = _load(vectors, limit)
    chosen = _split_words(words) if words is not None else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ShortArrowWarning)
        path = plot_embeddings(
            kv,
            chosen,
            top=top,
            method=method,  # type: ignore[arg-type]
            arrows=pairs,
            context=context,
            seed=seed,
            out=out,
            title=title,
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, ShortArrowWarning)]
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    if json_out:
        print_json({"out": str(path), "method": method, "notes": notes})
        return
    typer.echo(f"wrote {path} ({'t-SNE' if method == 'tsne' else 'PCA'} map)")


# -------------------------------------------------------------------------------- debias


@app.command()
@user_errors
@_vector_errors
def debias(
    vectors: Path = typer.Argument(..., help="A vectors file."),
    out: Path = typer.Option(..., "--out", "-o", help="Debiased vectors file to write."),
    method: str = typer.Option("average", help="Bias direction: average (course) or pca (paper)."),
    equalize_formula: str = typer.Option("course", help="Equalize formula: course or paper."),
    normalize: bool = typer.Option(
        True, "--normalize/--no-normalize", help="Scale vectors to unit length first."
    ),
    analogies: bool = typer.Option(
        True, "--analogies/--no-analogies", help="Analogy accuracy before and after."
    ),
    restrict_vocab: int = typer.Option(30000, help="Analogies: search the N most frequent."),
    limit: int | None = typer.Option(None, help="Read only the first N vectors."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Neutralize and equalize (Bolukbasi et al. 2016); print the before/after report.

    The debiased vectors are written in the input file's format.
    """
    from seqlab.embeddings.debias import debias as run_debias
    from seqlab.embeddings.vector_files import detect_format

    if method not in ("average", "pca"):
        raise fail(f"--method must be average or pca, got {method!r}")
    if equalize_formula not in ("course", "paper"):
        raise fail(f"--equalize-formula must be course or paper, got {equalize_formula!r}")
    _at_least_one(restrict_vocab=restrict_vocab, limit=limit)
    output_path(out, "--out")
    kv = _load(vectors, limit)
    fmt = detect_format(vectors)
    debiased, report = run_debias(
        kv,
        method=method,  # type: ignore[arg-type]
        equalize_formula=equalize_formula,  # type: ignore[arg-type]
        normalize=normalize,
        analogies=analogies,
        restrict_vocab=restrict_vocab,
    )
    debiased.save(out, format=fmt)  # type: ignore[arg-type]
    if json_out:
        print_json(report.to_dict() | {"out": str(out), "format": fmt})
        return
    typer.echo(report.format())
    typer.echo(f"\nwrote {out} ({fmt})")


# ------------------------------------------------------------------------------- formats


@app.command()
@user_errors
@_vector_errors
def convert(
    src: Path = typer.Argument(..., metavar="IN", help="A vectors file."),
    dest: Path = typer.Argument(..., metavar="OUT", help="The file to write."),
    to: str = typer.Option(..., "--to", help="word2vec, word2vec-binary or glove."),
    from_: str = typer.Option("auto", "--from", help="Input format (default: detected)."),
    limit: int | None = typer.Option(None, help="Read only the first N vectors."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Convert between word2vec text, word2vec binary and GloVe text (``.gz`` either way)."""
    _check_format(to, "--to")
    if from_ != "auto":
        _check_format(from_, "--from")
    output_path(dest, "OUT")
    kv = _load(src, limit, from_)
    kv.save(dest, format=to)  # type: ignore[arg-type]
    if json_out:
        print_json({"out": str(dest), "format": to, "words": len(kv), "dim": kv.vector_size})
        return
    typer.echo(f"wrote {dest} ({to}): {len(kv):,} words x {kv.vector_size} dims")


@app.command("export-projector")
@user_errors
@_vector_errors
def export_projector(
    vectors: Path = typer.Argument(..., help="A vectors file."),
    folder: Path = typer.Argument(..., metavar="DIR", help="Folder for vectors.tsv/metadata.tsv."),
    limit: int | None = typer.Option(None, help="Read only the first N vectors."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """TensorBoard Embedding Projector files (load them at projector.tensorflow.org)."""
    output_folder(folder, "DIR")
    kv = _load(vectors, limit)
    vec_path, meta_path = kv.save_projector(folder)
    if json_out:
        print_json({"vectors": str(vec_path), "metadata": str(meta_path), "words": len(kv)})
        return
    typer.echo(f"wrote {vec_path} and {meta_path} ({len(kv):,} words)")
