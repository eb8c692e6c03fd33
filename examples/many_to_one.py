"""Many-to-one: an RNN reads a whole sequence and answers one question about it.

The task is generated here: sequences of the symbols 0-7, of 10 to 50 steps, labelled 1 when
they contain the run ``1 2 3`` somewhere (as a sentiment classifier must notice "not good"
anywhere in a review). A ``seqlab.models.ManyToOne`` embeds the symbols, runs a GRU (or an RNN
or LSTM) over each sequence up to its own length, and classifies it from the last activation.

    python examples/many_to_one.py              # GRU, about 10 s on a laptop CPU
    python examples/many_to_one.py --cell rnn   # the plain RNN, for comparison
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from seqlab.models import ManyToOne, RNNConfig

VOCAB = 8  # symbols 0..7
PATTERN = (1, 2, 3)
MIN_LEN, MAX_LEN = 10, 50


class Dataset(NamedTuple):
    ids: torch.Tensor  # (N, T) symbols, padded with random symbols
    lengths: torch.Tensor  # (N,) true lengths
    labels: torch.Tensor  # (N,) 1 if the pattern occurs within the length


def make_task(n: int, generator: torch.Generator) -> Dataset:
    """n sequences; half get the pattern planted at a random place, the rest by chance."""
    lengths = torch.randint(MIN_LEN, MAX_LEN + 1, (n,), generator=generator)
    ids = torch.randint(0, VOCAB, (n, MAX_LEN), generator=generator)
    plant = torch.rand(n, generator=generator) < 0.5
    where = (torch.rand(n, generator=generator) * (lengths - len(PATTERN) + 1)).long()
    for b in plant.nonzero().flatten().tolist():
        ids[b, where[b] : where[b] + len(PATTERN)] = torch.tensor(PATTERN)
    windows = ids.unfold(1, len(PATTERN), 1)  # (N, T-2, 3)
    hit = (windows == torch.tensor(PATTERN)).all(-1)  # (N, T-2)
    inside = torch.arange(windows.shape[1]) + len(PATTERN) <= lengths[:, None]
    return Dataset(ids, lengths, (hit & inside).any(1).long())


def build_model(cell: str) -> ManyToOne:
    config = RNNConfig(cell=cell, input_size=16, hidden_size=32)
    return ManyToOne(config, num_classes=2, vocab_size=VOCAB)


def train(model: ManyToOne, data: Dataset, steps: int, generator: torch.Generator) -> float:
    """Adam on minibatches of 64; returns the last loss. Progress goes to stderr."""
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    columns = (TextColumn("training"), BarColumn(), TextColumn("{task.fields[loss]}"))
    model.train()
    loss = torch.tensor(float("nan"))
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as progress:
        task = progress.add_task("train", total=steps, loss="")
        for step in range(steps):
            batch = torch.randint(0, len(data.labels), (64,), generator=generator)
            logits = model(data.ids[batch], data.lengths[batch])
            loss = F.cross_entropy(logits, data.labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 10 == 0 or step == steps - 1:
                progress.update(task, completed=step + 1, loss=f"loss {loss.item():.3f}")
    return loss.item()


@torch.no_grad()
def predict(model: ManyToOne, data: Dataset) -> torch.Tensor:
    """P(label = 1) for every sequence."""
    model.eval()
    return model(data.ids, data.lengths).softmax(-1)[:, 1]


def accuracy(model: ManyToOne, data: Dataset) -> float:
    return ((predict(model, data) > 0.5).long() == data.labels).float().mean().item()


def show_examples(console: Console, model: ManyToOne, data: Dataset, per_label: int) -> None:
    """A few validation sequences of each label, the pattern in bold, and the model's answer."""
    probs = predict(model, data)
    table = Table("sequence", "contains 1 2 3?", "model", "P(yes)", box=None)
    needle = "".join(map(str, PATTERN))
    yes = data.labels.nonzero().flatten()[:per_label].tolist()
    no = (data.labels == 0).nonzero().flatten()[:per_label].tolist()
    for b in sorted(yes + no):
        text = "".join(map(str, data.ids[b, : data.lengths[b]].tolist()))
        text = text.replace(needle, f"[bold green]{needle}[/]")
        truth, guess = bool(data.labels[b]), bool(probs[b] > 0.5)
        mark = "[green]✓[/]" if truth == guess else "[red]✗[/]"
        answer = f"{mark} {'yes' if guess else 'no'}"
        table.add_row(text, "yes" if truth else "no", answer, f"{probs[b]:.2f}")
    console.print(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=800, help="training steps (default 800)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and weights")
    parser.add_argument("--cell", choices=["rnn", "gru", "lstm"], default="gru")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train_set, valid_set = make_task(4000, generator), make_task(1000, generator)
    model = build_model(args.cell)

    console = Console()
    console.print(
        f"Many-to-one {args.cell.upper()}: does a sequence of {MIN_LEN}-{MAX_LEN} symbols "
        f"contain 1 2 3?\n{len(train_set.labels)} training sequences "
        f"({train_set.labels.float().mean():.0%} yes), {len(valid_set.labels)} for validation"
    )
    start = time.perf_counter()
    loss = train(model, train_set, args.steps, generator)
    seconds = time.perf_counter() - start
    console.print(
        f"{args.steps} steps in {seconds:.1f} s, last loss {loss:.3f}\n"
        f"train accuracy {accuracy(model, train_set):.1%}, "
        f"validation accuracy {accuracy(model, valid_set):.1%}\n"
    )
    show_examples(console, model, valid_set, per_label=3)


if __name__ == "__main__":
    main()
