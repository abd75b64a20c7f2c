"""The version tree of a project as a page shows it: every edit under the clip it took as input,
newest first, a few cards at a time, however many edits the project has.

The tree's shape is read from a narrow query of every edit; only the cards shown are loaded whole.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, Sum

from editor.models import Edit, Project, Reference, ShareLink

# Versions shown under one input before "Show older versions", and cards in one render at most.
PAGE = 10
BUDGET = 30


@dataclass
class More:
    """The versions of an input not shown yet: `count` of them, from `offset` on (newest first)."""

    input_clip_id: int
    offset: int
    count: int


@dataclass
class Node:
    edit_id: int
    depth: int
    children: list[Node] = field(default_factory=list)
    more: More | None = None
    edit: Edit | None = None


@dataclass
class Tree:
    nodes: list[Node]
    more: More | None
    edit_count: int
    cost_usd: object
    # The studio's estimates, the provider's estimates and what the provider charged, in credits.
    estimated_credits: int | None = None
    provider_estimated_credits: int | None = None
    charged_credits: int | None = None


def version_tree(project: Project, input_clip_id: int | None = None, offset: int = 0) -> Tree:
    """Return the versions under an input (by default the original), from `offset` on, within the budget."""
    rows = project.edits.order_by("-created_at", "-pk").values_list("pk", "input_clip_id", "result__pk")
    children: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    for pk, clip_id, result_pk in rows:
        children[clip_id].append((pk, result_pk))
    left = BUDGET

    def walk(clip_id: int, start: int, depth: int) -> tuple[list[Node], More | None]:
        nonlocal left
        versions = children.get(clip_id, [])[start:]
        nodes = []
        for pk, result_pk in versions[:PAGE]:
            if left <= 0:
                break
            left -= 1
            node = Node(pk, depth)
            if result_pk is not None:
                node.children, node.more = walk(result_pk, 0, depth + 1)
            nodes.append(node)
        remaining = len(versions) - len(nodes)
        return nodes, (More(clip_id, start + len(nodes), remaining) if remaining else None)

    root = input_clip_id if input_clip_id is not None else getattr(project.original, "pk", None)
    nodes, more = walk(root, offset, 0) if root is not None else ([], None)
    _load_cards(nodes)
    totals = project.edits.aggregate(
        count=Count("pk"),
        cost=Sum("cost_usd"),
        estimated=Sum("cost_credits"),
        provider=Sum("provider_estimate_credits"),
        charged=Sum("charged_credits"),
    )
    return Tree(nodes, more, totals["count"], totals["cost"], totals["estimated"], totals["provider"], totals["charged"])


def _load_cards(nodes: list[Node]) -> None:
    """Load the edits shown, with what their cards show, in a constant number of queries."""
    shown: dict[int, Node] = {}

    def collect(level: list[Node]) -> None:
        for node in level:
            shown[node.edit_id] = node
            collect(node.children)

    collect(nodes)
    edits = (
        Edit.objects.filter(pk__in=shown)
        .select_related("input_clip", "result", "project", "change_map")
        .prefetch_related(
            Prefetch("references", queryset=Reference.objects.order_by("pk")),
            Prefetch("share_links", queryset=ShareLink.objects.order_by("-created_at").prefetch_related("versions")),
        )
    )
    for edit in edits:
        shown[edit.pk].edit = edit
