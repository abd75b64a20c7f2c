"""A comment's drawing as inline SVG over its frame (the printable export)."""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from editor.models import WatermarkPosition

register = template.Library()


@register.simple_tag
def drawing_svg(comment) -> str:
    """Return an SVG (0–1 coordinates, stretched over the picture) of a comment's shapes."""
    shapes = comment.drawing or []
    if not shapes:
        return ""
    parts = []
    for shape in shapes:
        (x1, y1), (x2, y2) = shape["points"][0], shape["points"][-1]
        if shape["tool"] == "box":
            parts.append(("rect", f'x="{min(x1, x2):.4g}" y="{min(y1, y2):.4g}" width="{abs(x2 - x1):.4g}" height="{abs(y2 - y1):.4g}"', shape["color"]))
        else:
            points = " ".join(f"{x:.4g},{y:.4g}" for x, y in shape["points"])
            parts.append(("polyline", f'points="{points}"', shape["color"]))
    # Every value was checked when the comment was written (numbers in 0–1, colours from the palette).
    body = format_html_join(
        "",
        '<{} {} fill="none" stroke="{}" stroke-width="0.006" vector-effect="non-scaling-stroke" style="stroke-width:2px"/>',
        ((tag, _safe(attrs), colour) for tag, attrs, colour in parts),
    )
    return format_html('<svg class="print-drawing" viewBox="0 0 1 1" preserveAspectRatio="none" aria-hidden="true">{}</svg>', body)


def _safe(attrs: str):
    return mark_safe(attrs)  # noqa: S308 (numbers only, formatted above)


@register.simple_tag
def watermark_positions() -> list[tuple[str, str]]:
    """Where a share link's watermark may sit, for the share forms."""
    return WatermarkPosition.choices
