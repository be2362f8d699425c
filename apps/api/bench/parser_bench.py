"""The eBay search-page parser against the bare HTML parse of the same page, as a ratio in one run.

    .venv/bin/python apps/api/bench/parser_bench.py [--rounds 7] [--base REV]

For every real page in tests/fixtures/ebay_pages/ of more than 100 KB, the best of `--rounds` times of
`parse_search_html(html)` and of `LexborHTMLParser(html)` alone (what any reading of the page costs).
Bar: the parser's total <= 2.5 x the bare parse's total (it reads every listing's seller line,
title, price and item id; about 2.1 in December 2026, 1.9 before listings were read).
`--base REV` also times the parser as it was at git revision REV (loaded from `git show`), in the
same run, for a before/after figure.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from app.scrapers.ebay_html import parse_search_html

API = Path(__file__).resolve().parent.parent
PAGES = API / "tests" / "fixtures" / "ebay_pages"
BAR = 2.5


def best_ms(parse: Callable[[str], object], html: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        parse(html)
        times.append(time.perf_counter() - started)
    return min(times) * 1000


def parser_at(revision: str) -> Callable[[str], object]:
    """`parse_search_html` from the parser module as committed at `revision`."""
    source = subprocess.run(
        ["git", "show", f"{revision}:apps/api/src/app/scrapers/ebay_html.py"],
        cwd=API,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "ebay_html_base.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("ebay_html_base", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ebay_html_base"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    parse: Callable[[str], object] = module.parse_search_html
    return parse


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--base", help="git revision whose parser is timed too")
    args = parser.parse_args()
    base = parser_at(args.base) if args.base else None
    totals = {"bare": 0.0, "parser": 0.0, "base": 0.0}
    for path in sorted(PAGES.glob("*.html.gz")):
        html = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        if len(html) < 100_000:
            continue
        bare = best_ms(LexborHTMLParser, html, args.rounds)
        ours = best_ms(parse_search_html, html, args.rounds)
        name = path.name.removesuffix(".html.gz")
        line = f"{name:40} {len(html) // 1024:5} KB  bare {bare:6.2f} ms  parser {ours:6.2f}"
        if base is not None:
            before = best_ms(base, html, args.rounds)
            totals["base"] += before
            line += f"  at {args.base} {before:6.2f}"
        totals["bare"] += bare
        totals["parser"] += ours
        print(line)
    ratio = totals["parser"] / totals["bare"]
    if base is not None:
        print(f"parser now / at {args.base}: {totals['parser'] / totals['base']:.2f}")
    verdict = "PASS" if ratio <= BAR else "FAIL"
    print(f"parser / bare parse: {ratio:.2f} (bar <= {BAR}) {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
