"""The run's report: the figures on the terminal, and in ``docs/reliability.md`` on request.

``write`` replaces the part of the page between the two ``chaos-run`` markers with this
run — its settings, the figures, the operations and their outcomes, the orders, and the
fault timeline — and leaves the rest of the page (how the harness works, what it caught)
as it was written.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from chaos.run import Result

BEGIN, END = "<!-- chaos-run:begin -->", "<!-- chaos-run:end -->"


def print_result(result: Result) -> None:
    console = Console()
    table = Table(title="simkeep under faults: the checker's figures")
    for column in ("figure", "value", "must be"):
        table.add_column(column)
    for figure in result.figures:
        style = "green" if figure.ok else "bold red"
        table.add_row(figure.name, f"[{style}]{figure.value}[/{style}]", str(figure.expected))
    console.print(table)
    for figure in result.figures:
        if figure.note:
            console.print(f"{figure.name}: {figure.note}")
    console.print(f"operations: {result.tally.operations}")
    console.print(f"refusals: {result.tally.refusals}")
    console.print(f"SIMs: {result.tally.sim_states}; retention: {result.tally.retention}")
    console.print(f"keep-alive: {result.tally.keep_alive}")
    console.print(f"refunds: {result.tally.refunds}")
    for provider, counts in result.tally.by_provider.items():
        console.print(f"{provider}: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}")
    console.print(f"orders: {result.tally.orders}; phases (s): {_rounded(result.phases)}")
    faults = Counter(f"{event.fault} ({event.target})" for event in result.timeline)
    console.print(f"faults: {dict(faults)}")
    verdict = "[green]PASS[/green]" if result.ok else "[bold red]FAIL[/bold red]"
    wrong = [f for f in result.figures if not f.ok]
    console.print(f"{verdict}: {len(wrong)} figure(s) wrong")
    for figure in wrong:
        console.print(f"wrong: {figure.name} = {figure.value}, must be {figure.expected}")


def write(result: Result, page: Path) -> None:
    text = page.read_text() if page.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text = f"{text.rstrip()}\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{BEGIN}\n{render(result)}{END}{tail}")


def render(result: Result) -> str:
    config, tally = result.config, result.tally
    lines = [
        f"Run of {result.started_at:%Y-%m-%d %H:%M} UTC: {config.seconds:.0f} s of workload on "
        f"{config.shape}, {config.clients} clients, seed {config.seed}; then "
        f"{result.phases.get('settle', 0):.0f} s settling unknown operations and "
        f"{result.phases.get('drain', 0):.0f} s for the workers to drain. "
        f"Verdict: **{'pass' if result.ok else 'FAIL'}**.",
        "",
        "| figure | value | must be |",
        "|---|---:|---:|",
        *(f"| {f.name} | {f.value} | {f.expected} |" for f in result.figures),
        "",
        "| operation | outcomes |",
        "|---|---|",
        *(
            f"| {op} | {', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))} |"
            for op, counts in tally.operations.items()
        ),
        "",
        f"Orders by state: {', '.join(f'{k} {v}' for k, v in sorted(tally.orders.items()))}. "
        f"Trades at the providers: {tally.trades}, of which paid {tally.trades_paid}, "
        f"notification acknowledged {tally.notifications_acknowledged}; echoed copies sent "
        f"{tally.echoes.get('sent', 0)} (acknowledged {tally.echoes.get('acknowledged', 0)}).",
        "",
        *(
            f"- {provider}: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}"
            for provider, counts in tally.by_provider.items()
        ),
        "",
        f"SIMs after the retention runs: "
        f"{', '.join(f'{k} {v}' for k, v in sorted(tally.sim_states.items()))}; the runs took "
        f"{', '.join(f'{k}: {v}' for k, v in sorted(tally.retention.items()))} (minor units).",
        "",
        f"Auto keep-alive: {', '.join(f'{k} {v}' for k, v in tally.keep_alive.items())}.",
        "",
        f"Refunds: {', '.join(f'{k} {v}' for k, v in tally.refunds.items())}.",
        "",
        f"Faults injected ({len(result.timeline)}):",
        "",
        *(
            f"- {fault}: {count}"
            for fault, count in sorted(Counter(e.fault for e in result.timeline).items())
        ),
        "",
        "<details><summary>Fault timeline (seconds since the start)</summary>",
        "",
        "| at | fault | target | lasted |",
        "|---:|---|---|---:|",
        *(f"| {e.at} | {e.fault} | {e.target} | {e.lasted} |" for e in result.timeline),
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def _rounded(phases: dict[str, float]) -> dict[str, float]:
    return {name: round(seconds, 1) for name, seconds in phases.items()}
