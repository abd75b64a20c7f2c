"""Reviews of a version: comments pinned to a time and frame (with replies, resolved or open), and
the version's review state with who set it and when."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from django.utils import timezone

from editor import media
from editor.errors import InputError
from editor.models import Comment, Edit, Review, new_storage_name
from editor.storage import local_copy, staged_files


# What a drawing may hold: the tools, the palette, and how much of each.
TOOLS = ("pen", "arrow", "box")
COLOURS = ("#ff3b30", "#ffcc00", "#34c759", "#0a84ff", "#ffffff")
MAX_SHAPES = 40
MAX_POINTS = 400


def read_drawing(raw: str) -> list[dict]:
    """Check a drawing sent with a comment (JSON); return it cleaned, or refuse it whole."""
    if not raw:
        return []
    if len(raw) > 40_000:
        raise InputError("The drawing is too large.")
    try:
        shapes = json.loads(raw)
    except ValueError:
        raise InputError("The drawing could not be read.") from None
    if not isinstance(shapes, list) or len(shapes) > MAX_SHAPES:
        raise InputError(f"A drawing has at most {MAX_SHAPES} shapes.")
    cleaned = []
    for shape in shapes:
        if not isinstance(shape, dict) or shape.get("tool") not in TOOLS or shape.get("color") not in COLOURS:
            raise InputError("The drawing has a shape this studio does not draw.")
        points = shape.get("points")
        wanted = (2, MAX_POINTS) if shape["tool"] == "pen" else (2, 2)
        if not isinstance(points, list) or not wanted[0] <= len(points) <= wanted[1]:
            raise InputError("A shape of the drawing has the wrong number of points.")
        xy = []
        for point in points:
            if not (isinstance(point, list) and len(point) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)):
                raise InputError("The drawing's points must be pairs of numbers.")
            if not all(0 <= v <= 1 for v in point):
                raise InputError("The drawing goes outside the picture.")
            xy.append([round(float(point[0]), 4), round(float(point[1]), 4)])
        cleaned.append({"tool": shape["tool"], "color": shape["color"], "points": xy})
    return cleaned


def add_comment(
    edit: Edit, author, body: str, seconds: float, *, parent: Comment | None = None, guest: str = "", link=None, drawing=(), email: str = ""
) -> Comment:
    """Pin a comment (or a reply) to a time of a finished version; refuse what does not fit. A guest
    of a share link gives a name instead of an account."""
    body = (body or "").strip()
    if not body:
        raise InputError("Write something to comment.")
    if len(body) > Comment.BODY_MAX:
        raise InputError(f"A comment is at most {Comment.BODY_MAX} characters.")
    result = getattr(edit, "result", None)
    if not edit.is_succeeded or result is None:
        raise InputError("Only a finished version can be commented on.")
    if parent is not None:
        if parent.edit_id != edit.pk:
            raise InputError("That comment belongs to another version.")
        # Replies sit under the comment they answer, at its time.
        parent = parent.parent or parent
        seconds = parent.seconds
    if not 0 <= seconds <= result.duration + 1e-6:
        raise InputError(f"The time {seconds:g} s lies outside this {result.duration:.2f} s result.")
    frame = min(max(0, result.frame_count - 1), int(round(seconds * result.fps)))
    with staged_files() as staged:
        thumbnail = "" if parent is not None else _thumbnail(result, seconds, staged)
        return Comment.objects.create(
            edit=edit,
            parent=parent,
            author=author,
            link=link,
            name=(guest or author.get_username())[:100],
            email=email if guest else "",
            body=body,
            seconds=seconds,
            frame=frame,
            thumbnail=thumbnail,
            drawing=[] if parent is not None else list(drawing),
        )


def _thumbnail(clip, seconds: float, staged) -> str:
    """Store a JPEG of the frame at `seconds` of a clip; return its stored name."""
    with tempfile.TemporaryDirectory(prefix="aleph-thumb-") as tmp, local_copy(clip.file) as source:
        dest = Path(tmp) / "frame.jpg"
        media.extract_poster(source, dest, at_seconds=seconds, max_width=480)
        return staged.save(dest, new_storage_name("thumbnails", ".jpg"))


# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_rows(edit: Edit) -> list[list[str]]:
    """Return a version's comments as spreadsheet rows (a header first); replies follow their comment."""
    rows = [["timecode", "seconds", "frame", "author", "comment", "reply to", "resolved", "written (UTC)"]]
    for comment in thread(edit):
        for item in [comment, *comment.thread]:
            rows.append(
                [
                    item.timecode.split(" · ")[0],
                    f"{item.seconds:.3f}",
                    str(item.frame),
                    _cell(item.name),
                    _cell(item.body),
                    str(comment.pk) if item is not comment else "",
                    "yes" if item.is_resolved else "",
                    item.created_at.strftime("%Y-%m-%d %H:%M"),
                ]
            )
    return rows


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA) else text


def resolve(comment: Comment, resolved: bool) -> None:
    Comment.objects.filter(pk=comment.pk).update(resolved_at=timezone.now() if resolved else None)


def set_review(edit: Edit, state: str, who: str) -> None:
    """Set a version's review state, recording who set it and when."""
    if state not in Review.values:
        raise InputError("Choose in review, changes requested or approved.")
    if not edit.is_succeeded:
        raise InputError("Only a finished version can be reviewed.")
    Edit.objects.filter(pk=edit.pk).update(review=state, review_by=who[:100], review_at=timezone.now())


def add_guest_comment(
    link, edit: Edit, name: str, body: str, seconds: float, *, parent_id: int | None = None, drawing=(), email: str = ""
) -> Comment:
    """A guest's comment on one of a share link's versions, when the link allows comments; a reply
    only to that link's comments on that version. An email address, if given, hears of replies."""
    name = " ".join((name or "").split())
    if not name:
        raise InputError("Give your name, so the owner knows who wrote it.")
    if not link.allow_comments:
        raise InputError("This link does not take comments.")
    if not link.versions.filter(edit=edit).exists():
        raise InputError("That version is not on this link.")
    parent = None
    if parent_id is not None:
        parent = Comment.objects.filter(pk=parent_id, edit=edit, link=link).first()
        if parent is None:
            raise InputError("That comment is not on this link.")
    return add_comment(
        edit, None, body, seconds, parent=parent, guest=f"{name[:60]} (guest)", link=link, drawing=drawing, email=(email or "").strip()[:254]
    )


def thread(edit: Edit, *, link=None) -> list[Comment]:
    """Return a version's comments in time order, each with its replies (two queries). Through a
    share link, only the comments made through that link (and the replies to them)."""
    roots = Comment.objects.filter(edit=edit, parent__isnull=True)
    if link is not None:
        roots = roots.filter(link=link)
    comments = list(roots)
    replies: dict[int, list[Comment]] = {}
    for reply in Comment.objects.filter(edit=edit, parent__in=[c.pk for c in comments]).order_by("created_at", "pk"):
        replies.setdefault(reply.parent_id, []).append(reply)
    for comment in comments:
        comment.thread = replies.get(comment.pk, [])
    return comments
