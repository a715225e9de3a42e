"""Pure: sizes and ages as people read them, shared by the renderers."""

from __future__ import annotations


def human_size(count: int) -> str:
    """``512 B``, ``4.1 KB``, ``12.3 MB``, ``1.2 GB``: decimal units, as `du --si` prints."""
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
