"""Comparisons for tests that need a week's worth of content, as a file the real JSON importer reads."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path


def comparisons_file(folder: Path, published: list[datetime], tag: str = "c") -> Path:
    """One comparison per moment in `published` (titled "Tool {tag}{i}a vs Tool {tag}{i}b"), in one JSON file."""
    items = [{
        "title": f"Tool {tag}{i}a vs Tool {tag}{i}b",
        "summary": f"Which of the two {tag}{i} tools ships.",
        "published_at": moment.isoformat(),
        "tools": [
            {"name": f"Tool {tag}{i}a", "category": "Agents", "tagline": "One", "description": "First.",
             "panel_ship": 70, "community": 60, "entry_price": "Free"},
            {"name": f"Tool {tag}{i}b", "category": "Agents", "tagline": "Two", "description": "Second.",
             "panel_ship": 40, "community": None, "entry_price": "$10/mo"},
        ],
        "reviews": [{"tool": f"Tool {tag}{i}a", "lens": "builder", "quote": "Ship it.", "verdict": "ship"}],
    } for i, moment in enumerate(published)]
    path = folder / f"comparisons-{tag}.json"
    path.write_text(json.dumps({"comparisons": items}), encoding="utf-8")
    return path
