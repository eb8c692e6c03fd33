"""Print the latest stored benchmark table: ``python benchmarks/show.py recurrent``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS = Path(__file__).resolve().parent / "results"


def show(name: str) -> int:
    files = sorted(RESULTS.glob(f"{name}-*.json"))
    if not files:
        print(f"no stored results for {name!r} in {RESULTS} (run `make bench`)", file=sys.stderr)
        return 2
    console = Console(width=max(Console().width, 110))
    for path in files:
        result = json.loads(path.read_text())
        m = result["machine"]
        sizes = ", ".join(f"{k} {v}" for k, v in result["sizes"].items())
        table = Table(
            title=f"{name} on {result['device']} ({m.get('gpu') or m['cpu']}, "
            f"{m['torch_threads']} threads, torch {m['torch']}, {m['date'][:10]})\n{sizes}; "
            "× torch = seqlab tokens/s ÷ torch.nn tokens/s (median; min–max in the JSON)",
        )
        for col in ("config", "model", "fwd tok/s", "× torch", "fwd+bwd tok/s", "× torch"):
            left = col in ("config", "model")
            table.add_column(col, justify="left" if left else "right", no_wrap=True)
        for row in result["rows"]:
            cfg = f"{row['layers']}L" + (" bi" if row["bidirectional"] else "")
            cells = []
            for phase in ("fwd", "fwdbwd"):
                r = row[phase]["ratio_to_torch"]
                cells += [f"{row[phase]['tokens_per_s']:,.0f}", f"{r['median']:.2f}"]
            table.add_row(cfg, row["model"], *cells)
        console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(show(sys.argv[1] if len(sys.argv) > 1 else "recurrent"))
