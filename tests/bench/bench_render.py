"""How long building one edition takes: selection, Jinja, MJML and the text part, per edition.

    /work/venv/bin/python tests/bench/bench_render.py          10 and 100 comparisons
    DIGEST_BENCH_SMOKE=1 ... bench_render.py                    2 and 5, a few rounds (CI)

Prints milliseconds per edition (the best of several rounds, and the median) for
the pure build, and in the same run two references: the bare mjml2html call on
the same MJML, and render_edition reading a SQLite store (store reads included).
Target: the pure build of 10 comparisons under 2 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # runnable from a checkout without installing

from mjml import mjml2html

from digest.content.models import Comparison, Entry, Review, Tool
from digest.editions.selection import select_for_week
from digest.editions.service import build_edition, get_edition
from digest.render import compose, render_edition, render_view
from digest.render.context import ComparisonFacts, ToolFacts
from digest.settings import Settings
from digest.store import open_store, session_scope
from digest.weeks import week_bounds

SMOKE = os.environ.get("DIGEST_BENCH_SMOKE") == "1"
SIZES = (2, 5) if SMOKE else (10, 100)
ROUNDS, REPEAT = (3, 2) if SMOKE else (15, 20)
WEEK = "2026-W47"
MONDAY = datetime(2026, 11, 16, 8, tzinfo=UTC)
QUOTE = (
    "The primitive is a streaming session object behind a small SDK, which is the right shape for the "
    "problem. The docs get you to a first call in minutes. Everything after that is detail, and the detail "
    "is where the competitors have to catch up."
)
SETTINGS = Settings()


@dataclass
class Candidate:
    id: int
    published_at: datetime
    facts: ComparisonFacts


def tool_facts(i: int, side: str, ship: float) -> ToolFacts:
    return ToolFacts(
        slug=f"tool-{i}-{side}",
        name=f"Tool {i}{side} Realtime Streaming SDK v3",
        category="Developer Tools",
        tagline="Embed sub-second conversational agents in any web app",
        panel_ship=ship,
        community=None if i % 2 else 62.5,
        entry_price="Usage-based",
        reviews=(("builder", QUOTE, "ship"), ("buyer", QUOTE, "skip")),
    )


def candidates(n: int) -> list[Candidate]:
    """n comparisons in the week and n outside it, so selection has something to throw away."""
    out = []
    for i in range(2 * n):
        when = MONDAY + timedelta(minutes=i * 7) if i < n else MONDAY - timedelta(days=3, minutes=i)
        facts = ComparisonFacts(
            f"comparison-{i}",
            f"Tool {i}a Realtime Streaming SDK v3 vs Tool {i}b Turbo",
            "Which one should you ship with? The panel's verdict, the price and the vote.",
            f"https://verdicts.example.com/compare/comparison-{i}",
            (tool_facts(i, "a", 75), tool_facts(i, "b", 100)),
        )
        out.append(Candidate(i + 1, when, facts))
    return out


def build(pool: list[Candidate], start, end) -> tuple[str, str]:
    """The whole pure build: selection, context, Jinja, MJML, text."""
    picked = select_for_week(pool, set(), start, end)
    view = compose(number=1, week=WEEK, facts=[c.facts for c in picked], settings=SETTINGS)
    html, text, _ = render_view(view)
    return html, text


def per_call_ms(fn, repeat: int = REPEAT, rounds: int = ROUNDS) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(repeat):
            fn()
        samples.append((time.perf_counter() - began) / repeat * 1000)
    return min(samples), statistics.median(samples)


def seed_store(url: str, n: int) -> None:
    engine = open_store(url)
    with session_scope(engine) as session:
        for candidate in candidates(n)[:n]:
            comparison = Comparison(
                slug=candidate.facts.slug,
                title=candidate.facts.title,
                summary=candidate.facts.summary,
                url=candidate.facts.url,
                published_at=candidate.published_at,
            )
            session.add(comparison)
            session.flush()
            for position, facts in enumerate(candidate.facts.tools):
                tool = Tool(
                    slug=facts.slug,
                    name=facts.name,
                    category=facts.category,
                    tagline=facts.tagline,
                    description="-",
                    pricing=facts.entry_price,
                )
                session.add(tool)
                session.flush()
                session.add(
                    Entry(
                        comparison_id=comparison.id,
                        tool_id=tool.id,
                        position=position,
                        panel_ship=facts.panel_ship,
                        community=facts.community,
                        entry_price=facts.entry_price,
                    )
                )
                for rank, (lens, quote, verdict) in enumerate(facts.reviews):
                    session.add(
                        Review(
                            comparison_id=comparison.id,
                            tool_id=tool.id,
                            lens=lens,
                            position=rank * 2 + position,
                            quote=quote,
                            verdict=verdict,
                        )
                    )
        build_edition(session, SETTINGS, WEEK)
    engine.dispose()


def main() -> None:
    start, end = week_bounds(WEEK, SETTINGS.timezone)
    print(f"bench_render: ms per edition (best / median of {ROUNDS} rounds){'  [smoke size]' if SMOKE else ''}")
    for n in SIZES:
        pool = candidates(n)
        html, text = build(pool, start, end)  # warm the template cache
        view = compose(
            number=1, week=WEEK, facts=[c.facts for c in select_for_week(pool, set(), start, end)], settings=SETTINGS
        )
        _, _, source = render_view(view)
        repeat = max(2, REPEAT * 10 // max(n, 10))  # about the same wall time for every size
        best, median = per_call_ms(lambda: build(pool, start, end), repeat)
        ref_best, ref_median = per_call_ms(lambda: mjml2html(source), repeat)
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            seed_store(url, n)
            engine = open_store(url)
            with session_scope(engine) as session:
                edition = get_edition(session, week=WEEK)
                store_best, store_median = per_call_ms(
                    lambda: render_edition(session, edition, SETTINGS), repeat, rounds=max(3, ROUNDS // 3)
                )
            engine.dispose()
        print(
            f"  {n:>3} comparisons: build {best:7.3f} / {median:7.3f} ms"
            f"   reference mjml2html alone {ref_best:7.3f} / {ref_median:7.3f} ms"
            f"   render_edition from SQLite {store_best:7.3f} / {store_median:7.3f} ms"
            f"   html {len(html) / 1024:6.1f} kB, text {len(text) / 1024:5.1f} kB"
        )
    print("  target: the build of 10 comparisons under 2 ms")


if __name__ == "__main__":
    main()
