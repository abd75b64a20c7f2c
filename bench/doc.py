"""docs/performance.md holds one section per benchmark; each run replaces only its own section."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def write_section(name: str, text: str, doc: Path = DOC) -> None:
    """Put `text` in the doc between this benchmark's markers (appended the first time)."""
    start, end = f"<!-- {name}: written by make bench-{name} -->", f"<!-- end of {name} -->"
    block = f"{start}\n{text.strip()}\n{end}"
    current = doc.read_text() if doc.exists() else ""
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1]
        updated = before + block + after
    else:
        updated = (current.rstrip() + "\n\n" if current.strip() else "") + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(updated)
