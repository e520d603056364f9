"""Plain-text tables of results: columns separated by two spaces, one header row."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence


def format_table(
    rows: Sequence[Mapping[str, str]], left_aligned: Collection[str] = ("architecture",)
) -> str:
    """Render ``rows`` (column title -> text, the same titles in the same order in every row).

    Columns are right-aligned except those named in ``left_aligned``; trailing blanks are cut.
    """
    if not rows:
        return ""
    titles = list(rows[0])
    table = [titles, *([row[t] for t in titles] for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(titles))]
    lines = [
        "  ".join(
            cell.ljust(width) if title in left_aligned else cell.rjust(width)
            for title, cell, width in zip(titles, line, widths)
        )
        for line in table
    ]
    return "\n".join(line.rstrip() for line in lines)
