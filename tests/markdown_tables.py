"""`assert_markdown_tables(text)`: every Markdown table in a text renders as one (GitHub's rule: the header, the
separator and every row have the same number of cells). Used on what compare, eval, inspect and augment write."""

from __future__ import annotations

import re

SEPARATOR = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


def cells(line: str) -> list[str]:
    """The cells of one table line (`| a | b \\| c |` -> ['a', 'b \\| c']); escaped pipes stay in their cell."""
    inner = line.strip().removeprefix("|")
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def markdown_tables(text: str) -> list[list[list[str]]]:
    """Each table in `text` (a line of cells followed by a separator line, and the rows up to the first line that is
    not a table line) as its lines' cells, header and separator first."""
    lines, tables, i = text.splitlines(), [], 0
    while i + 1 < len(lines):
        if lines[i].lstrip().startswith("|") and SEPARATOR.match(lines[i + 1].strip()):
            end = i + 2
            while end < len(lines) and lines[end].lstrip().startswith("|"):
                end += 1
            tables.append([cells(line) for line in lines[i:end]])
            i = end
        else:
            i += 1
    return tables


def assert_markdown_tables(text: str, where: str = "the text", least: int = 1) -> int:
    """Fail unless `text` holds at least `least` Markdown tables and each line of each has as many cells as its
    header; returns how many tables there are. (from markdown_tables import assert_markdown_tables: tests/ is on
    pytest's path.)"""
    tables = markdown_tables(text)
    assert len(tables) >= least, f"{where}: expected at least {least} Markdown table(s), found {len(tables)}"
    for table in tables:
        header = len(table[0])
        bad = ", ".join(f"line {n} has {len(line)}" for n, line in enumerate(table) if len(line) != header)
        assert not bad, f"{where}: a table's header has {header} cells, {bad} (1 = the separator): {table[0]}"
    return len(tables)
