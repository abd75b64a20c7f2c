"""Reviewing a version: timecoded comments with replies, resolve and reopen, and the review state."""

from __future__ import annotations

from django.urls import reverse

from editor.models import Comment, Edit, Review
from tests.conftest import make_finished_edit


def test_a_comment_is_pinned_to_a_time_and_its_frame_and_shows_on_the_timeline(owner_client, project):
    edit = make_finished_edit(project)
    fps = edit.result.fps
    response = owner_client.post(reverse("comment_add", args=[edit.pk]), {"body": "Too dark <here>", "seconds": "0.4"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    comment = Comment.objects.get()
    assert (comment.seconds, comment.frame, comment.name) == (0.4, round(0.4 * fps), "owner")
    page = owner_client.get(reverse("compare", args=[edit.pk])).content.decode()
    # Escaped, listed with its timecode, and marked on the seek bar.
    assert "Too dark &lt;here&gt;" in page and "<here>" not in page
    assert f"frame {comment.frame}" in page
    assert 'class="comment-marks"' in page and 'data-seek="0.4"' in page


def test_replies_resolve_and_reopen(owner_client, project):
    edit = make_finished_edit(project)
    owner_client.post(reverse("comment_add", args=[edit.pk]), {"body": "Sky is off", "seconds": "0.2"})
    first = Comment.objects.get()
    owner_client.post(reverse("comment_add", args=[edit.pk]), {"body": "Fixed in #2", "seconds": "0.9", "parent": first.pk})
    reply = Comment.objects.exclude(pk=first.pk).get()
    # A reply sits under its comment, at its time.
    assert (reply.parent_id, reply.seconds) == (first.pk, first.seconds)
    owner_client.post(reverse("comment_resolve", args=[first.pk]), {"resolved": "1"})
    first.refresh_from_db()
    assert first.is_resolved
    owner_client.post(reverse("comment_resolve", args=[first.pk]), {"resolved": "0"})
    first.refresh_from_db()
    assert not first.is_resolved


def test_comments_that_do_not_fit_change_nothing(owner_client, project):
    edit = make_finished_edit(project)
    for data, words in (
        ({"body": "", "seconds": "0"}, "Write something"),
        ({"body": "x" * 2001, "seconds": "0"}, "at most 2000 characters"),
        ({"body": "late", "seconds": "99"}, "lies outside"),
        ({"body": "nan", "seconds": "soon"}, "could not be read"),
    ):
        response = owner_client.post(reverse("comment_add", args=[edit.pk]), data, HTTP_HX_REQUEST="true")
        assert response.status_code == 400 and words in response.content.decode()
    assert not Comment.objects.exists()


def test_the_review_state_shows_who_set_it_on_the_card_and_filters_history(owner_client, project):
    edit = make_finished_edit(project)
    other = make_finished_edit(project, prompt="sepia")
    assert owner_client.post(reverse("review_set", args=[edit.pk]), {"state": "approved"}).status_code == 302
    edit.refresh_from_db()
    assert (edit.review, edit.review_by) == (Review.APPROVED, "owner") and edit.review_at
    card = owner_client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert "data-review" in card and "Approved" in card
    history = owner_client.get(reverse("history"), {"review": "approved"}).content.decode()
    assert f"#{edit.pk}" in history and f"#{other.pk}</td>" not in history
    assert owner_client.post(reverse("review_set", args=[edit.pk]), {"state": "perfect"}).status_code == 302
    edit.refresh_from_db()
    assert edit.review == Review.APPROVED


def test_nobody_else_reaches_a_versions_review(client, project, django_user_model):
    edit = make_finished_edit(project)
    owner_comment = Comment.objects.create(edit=edit, name="owner", body="mine", seconds=0.1)
    django_user_model.objects.create_user("mallory", password="a-long-passphrase-9")
    client.login(username="mallory", password="a-long-passphrase-9")
    assert client.post(reverse("comment_add", args=[edit.pk]), {"body": "hi", "seconds": "0"}).status_code == 404
    assert client.post(reverse("comment_resolve", args=[owner_comment.pk]), {"resolved": "1"}).status_code == 404
    assert client.post(reverse("review_set", args=[edit.pk]), {"state": "approved"}).status_code == 404
    assert Comment.objects.count() == 1 and not Edit.objects.get(pk=edit.pk).review


def test_comments_export_as_csv_and_as_a_printable_page_with_their_frames(owner_client, project):
    import csv
    import io

    from PIL import Image

    edit = make_finished_edit(project)
    owner_client.post(reverse("comment_add", args=[edit.pk]), {"body": "=HYPERLINK(\"http://evil\")", "seconds": "0.2"})
    owner_client.post(reverse("comment_add", args=[edit.pk]), {"body": "Warmer, please", "seconds": "0.8"})
    first = Comment.objects.order_by("seconds").first()
    owner_client.post(reverse("comment_add", args=[edit.pk]), {"body": "Agreed", "seconds": "0", "parent": first.pk})
    response = owner_client.get(reverse("comments_csv", args=[edit.pk]))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["timecode", "seconds", "frame", "author", "comment"]
    # A cell a spreadsheet would run as a formula is written as text.
    assert rows[1][4] == "'=HYPERLINK(\"http://evil\")" and rows[1][0] == "00:00.20"
    assert rows[2][4] == "Agreed" and rows[2][5] == str(first.pk)
    assert rows[3][4] == "Warmer, please"
    page = owner_client.get(reverse("comments_print", args=[edit.pk])).content.decode()
    assert page.count("data-print-comment") == 2 and "Agreed" in page
    frame = owner_client.get(reverse("comment_frame", args=[first.pk]))
    assert frame.status_code == 200 and frame["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(b"".join(frame.streaming_content))) as image:
        assert image.width <= 480
    # Nobody else gets them.
    owner_client.logout()
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("mallory", password="a-long-passphrase-9")
    owner_client.login(username="mallory", password="a-long-passphrase-9")
    for url in (reverse("comments_csv", args=[edit.pk]), reverse("comments_print", args=[edit.pk]), reverse("comment_frame", args=[first.pk])):
        assert owner_client.get(url).status_code == 404


def test_a_drawing_is_kept_as_shapes_and_anything_else_is_refused(owner_client, project):
    import json

    edit = make_finished_edit(project)
    box = {"tool": "box", "color": "#ff3b30", "points": [[0.2, 0.2], [0.6, 0.6]]}
    pen = {"tool": "pen", "color": "#ffcc00", "points": [[0.1, 0.1], [0.15, 0.12], [0.2, 0.18]]}
    response = owner_client.post(
        reverse("comment_add", args=[edit.pk]), {"body": "Here", "seconds": "0.5", "drawing": json.dumps([box, pen])}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    comment = Comment.objects.get()
    assert comment.drawing == [box, pen]
    page = owner_client.get(reverse("compare", args=[edit.pk])).content.decode()
    assert "data-draw-layer" in page and "data-drawing=" in page and "#ff3b30" in page
    # The printable export draws it over the comment's frame.
    printed = owner_client.get(reverse("comments_print", args=[edit.pk])).content.decode()
    assert '<rect x="0.2" y="0.2" width="0.4" height="0.4" fill="none" stroke="#ff3b30"' in printed
    assert '<polyline points="0.1,0.1 0.15,0.12 0.2,0.18"' in printed
    for drawing, words in (
        ([{"tool": "laser", "color": "#ff3b30", "points": [[0, 0], [1, 1]]}], "does not draw"),
        ([{"tool": "box", "color": "#123456", "points": [[0, 0], [1, 1]]}], "does not draw"),
        ([{"tool": "box", "color": "#ff3b30", "points": [[0, 0], [1, 1.5]]}], "outside the picture"),
        ([{"tool": "arrow", "color": "#ff3b30", "points": [[0, 0], [1, 1], [0.5, 0.5]]}], "wrong number of points"),
        ([box] * 41, "at most 40 shapes"),
        ("{not json", "could not be read"),
    ):
        raw = drawing if isinstance(drawing, str) else json.dumps(drawing)
        response = owner_client.post(
            reverse("comment_add", args=[edit.pk]), {"body": "x", "seconds": "0", "drawing": raw}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 400 and words in response.content.decode(), words
    assert Comment.objects.count() == 1
