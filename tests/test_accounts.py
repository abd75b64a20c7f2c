"""Who may spend: sign-up modes, the first account, invitations, approvals, allowances and the server's
cap, reservations that hold under concurrency, and settlement on the provider's reported cost."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from editor.errors import InputError
from editor.models import Edit, Invite, Member, Spend, Status
from editor.services import accounts, credits
from editor.services import edits as edit_service
from editor.services.projects import create_project_from_upload
from tests.conftest import upload_of
from tests.fakes import Fault, FakeProvider, TaskPlan
from tests.fakes.studio import RUNWAY_TEST_KEY, TaskQueue, use_fake

User = get_user_model()
PASSWORD = "a-long-passphrase-5"


def _sign_up(client: Client, username: str, invite: str = "") -> object:
    url = reverse("signup") + (f"?invite={invite}" if invite else "")
    return client.post(url, {"username": username, "password1": PASSWORD, "password2": PASSWORD})


# ---------------------------------------------------------------- sign-up


def test_the_first_account_is_the_administrator_and_later_ones_get_the_default_allowance(db, settings):
    settings.ALEPH_SIGNUP = "open"
    settings.ALEPH_DEFAULT_MONTHLY_CREDITS = 250
    assert _sign_up(Client(), "founder").status_code == 302
    assert _sign_up(Client(), "second").status_code == 302
    founder, second = User.objects.get(username="founder"), User.objects.get(username="second")
    assert founder.is_superuser and founder.is_staff and founder.member.monthly_credits is None
    assert not second.is_staff and second.member.monthly_credits == 250


def test_createsuperuser_makes_an_unlimited_administrator(db):
    admin = User.objects.create_superuser("root", password=PASSWORD)
    assert Member.objects.get(user=admin).monthly_credits is None
    assert credits.allowance(admin).left is None


def test_closed_sign_up_refuses_with_a_reason(db, settings):
    settings.ALEPH_SIGNUP = "closed"
    User.objects.create_superuser("root", password=PASSWORD)
    response = _sign_up(Client(), "stranger")
    assert response.status_code == 403 and "Sign-up is closed" in response.content.decode()
    assert not User.objects.filter(username="stranger").exists()


def test_on_a_fresh_server_that_invites_the_first_account_comes_from_createsuperuser(db, settings):
    settings.ALEPH_SIGNUP = "invite"
    response = _sign_up(Client(), "stranger")
    assert response.status_code == 403 and "by invitation" in response.content.decode()
    assert User.objects.count() == 0


def test_an_invitation_works_once_and_only_a_hash_of_it_is_kept(db, settings):
    settings.ALEPH_SIGNUP = "invite"
    admin = User.objects.create_superuser("root", password=PASSWORD)
    invite, token = accounts.create_invite(admin, "for Ana")
    assert token not in invite.token_hash and Invite.objects.filter(token_hash__contains=token).count() == 0
    assert _sign_up(Client(), "ana", invite=token).status_code == 302
    invite.refresh_from_db()
    assert invite.used_by.username == "ana" and not invite.is_open
    again = _sign_up(Client(), "bea", invite=token)
    assert again.status_code == 403 and "has been used or has expired" in again.content.decode()
    assert not User.objects.filter(username="bea").exists()


def test_an_expired_or_revoked_invitation_is_refused(db, settings):
    settings.ALEPH_SIGNUP = "invite"
    admin = User.objects.create_superuser("root", password=PASSWORD)
    old, old_token = accounts.create_invite(admin)
    Invite.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    revoked, revoked_token = accounts.create_invite(admin)
    accounts.revoke_invite(revoked)
    for token in (old_token, revoked_token, "made-up"):
        assert _sign_up(Client(), "late", invite=token).status_code == 403
    assert not User.objects.filter(username="late").exists()


def test_an_account_waits_for_approval_and_is_told_so(db, settings):
    settings.ALEPH_SIGNUP = "approval"
    User.objects.create_superuser("root", password=PASSWORD)
    response = _sign_up(Client(), "newcomer")
    assert response.status_code == 200 and "approves new accounts" in response.content.decode()
    newcomer = User.objects.get(username="newcomer")
    assert not newcomer.is_active
    client = Client()
    response = client.post(reverse("login"), {"username": "newcomer", "password": PASSWORD})
    assert "This account is waiting for an administrator&#x27;s approval" in response.content.decode()
    assert client.get(reverse("home")).status_code == 302
    accounts.approve(newcomer)
    assert client.post(reverse("login"), {"username": "newcomer", "password": PASSWORD}).status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_an_account_switched_off_is_not_kept_logged_in(db):
    user = User.objects.create_user("leaver", password=PASSWORD)
    client = Client()
    client.force_login(user)
    assert client.get(reverse("home")).status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get(reverse("home")).status_code == 302


# ---------------------------------------------------------------- allowances


@pytest.fixture
def runway(settings):
    cache.clear()
    with FakeProvider("runway", api_key=RUNWAY_TEST_KEY) as fake:
        use_fake(settings, fake)
        yield fake


def _member(username: str, monthly: int | None):
    user = User.objects.create_user(username, password=PASSWORD)
    Member.objects.filter(user=user).update(monthly_credits=monthly)
    return user


def _project(user, small_clip):
    return create_project_from_upload(user, upload_of(small_clip), "Paid")


def _ask(project, **overrides) -> Edit:
    options = {"prompt": "snow", "ratio": "640:480", "seed": 1, "engine": "runway", "model": "gen4_aleph", **overrides}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return edit_service.create_edit(project, project.original, edit_service.EditSettings(**options))


def test_an_account_without_an_allowance_cannot_spend_and_nothing_is_sent(db, runway, small_clip):
    user = _member("plain", 0)
    project = _project(user, small_clip)
    with pytest.raises(InputError, match="no allowance for paid engines"):
        _ask(project)
    assert Edit.objects.count() == 0 and Spend.objects.count() == 0 and runway.creates == []


def test_an_allowance_is_spent_down_and_then_refuses(db, runway, small_clip):
    # The 1 s clip is one output second of gen4_aleph: 15 credits.
    user = _member("limited", 40)
    project = _project(user, small_clip)
    _ask(project)
    _ask(project)
    assert credits.allowance(user).left == 10
    with pytest.raises(InputError, match="estimated at 15 credits; your allowance has 10 of 40 credits left"):
        _ask(project)
    assert Edit.objects.count() == 2 and Spend.objects.count() == 2


def test_the_servers_monthly_cap_holds_for_everyone(db, runway, small_clip, settings):
    settings.ALEPH_MONTHLY_CREDIT_CAP = 20
    rich = _project(_member("rich", None), small_clip)
    other = _project(_member("other", None), small_clip)
    _ask(rich)
    with pytest.raises(InputError, match="the server's monthly cap has 5 credits left"):
        _ask(other)
    assert credits.server_left() == 5


def test_last_months_spend_does_not_count(db, runway, small_clip):
    user = _member("monthly", 20)
    project = _project(user, small_clip)
    _ask(project)
    Spend.objects.update(created_at=credits.month_start() - timedelta(days=1))
    assert credits.allowance(user).left == 20
    _ask(project)


def test_the_form_shows_what_is_left_before_a_paid_submit(db, runway, small_clip):
    user = _member("viewer", 20)
    project = _project(user, small_clip)
    client = Client()
    client.force_login(user)
    query = {"engine": "runway", "model": "gen4_aleph", "input_clip": project.original.pk, "trim_start": "0"}
    body = client.get(reverse("edit_estimate", args=[project.pk]), query, HTTP_HX_REQUEST="true").content.decode()
    assert "Your allowance: 20 of 20 credits left this month" in body and "Not enough left" not in body
    _ask(project)
    body = client.get(reverse("edit_estimate", args=[project.pk]), query, HTTP_HX_REQUEST="true").content.decode()
    assert "5 of 20 credits left" in body and "Not enough left for this edit" in body
    # The submit is refused with the reason, and nothing is kept or sent.
    data = {"prompt": "snow", "ratio": "640:480", "seed": "1", "public_figure_threshold": "auto", **query}
    response = client.post(reverse("edit_create", args=[project.pk]), data)
    assert response.status_code == 400 and "your allowance has 5 of 20 credits left" in response.content.decode()
    assert Edit.objects.count() == 1 and len(runway.creates) == 0


# ---------------------------------------------------------------- settlement


def _run_to_the_end(edit: Edit) -> Edit:
    return TaskQueue().run_edit_to_the_end(edit)


@pytest.mark.parametrize("outcome, cost, spent", [("SUCCEEDED", 12, 12), ("FAILED", 0, 0), ("SUCCEEDED", None, 15)])
def test_a_reservation_is_settled_on_the_cost_the_provider_reports(db, runway, small_clip, outcome, cost, spent):
    user = _member("settled", 100)
    # None: a provider (or an older API version) that reports no cost.
    runway.next_plans.append(TaskPlan(steps=(), outcome=outcome, failure_code="INTERNAL", cost=cost, report_cost=cost is not None))
    edit = _run_to_the_end(_ask(_project(user, small_clip)))
    assert edit.status == Status[outcome]
    assert credits.spent_this_month(user) == spent
    assert Spend.objects.get().settled_at is not None


def test_an_edit_that_never_reached_the_provider_gives_its_credits_back(db, runway, small_clip):
    user = _member("refused", 100)
    runway.inject("POST", "/v1/video_to_video", Fault.respond(400, {"error": "Invalid input", "issues": []}))
    edit = _run_to_the_end(_ask(_project(user, small_clip)))
    assert edit.status == Status.FAILED
    assert credits.spent_this_month(user) == 0


def test_a_cancel_before_sending_gives_the_credits_back(db, runway, small_clip):
    user = _member("canceller", 100)
    edit = _ask(_project(user, small_clip))
    assert credits.spent_this_month(user) == 15
    assert edit_service.cancel_edit(edit)
    assert credits.spent_this_month(user) == 0


def test_deleting_a_paid_edit_does_not_give_its_credits_back(db, runway, small_clip):
    user = _member("deleter", 100)
    runway.next_plans.append(TaskPlan(steps=(), cost=15))
    edit = _run_to_the_end(_ask(_project(user, small_clip)))
    edit_service.delete_edit(edit)
    assert credits.spent_this_month(user) == 15


# ---------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_concurrent_submits_never_overrun_an_allowance(runway, small_clip):
    """Each thread has its own database connection: only one of the 15-credit edits fits in 20."""
    user = _member("racer", 20)
    project = _project(user, small_clip)
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def submit() -> None:
        try:
            start.wait()
            edit_service.create_edit(
                project, project.original,
                edit_service.EditSettings(prompt="snow", ratio="640:480", seed=1, engine="runway", model="gen4_aleph"),
            )
            outcomes.append("made")
        except InputError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["made", "refused", "refused", "refused"]
    assert Edit.objects.count() == 1 and credits.spent_this_month(user) == 15


# ---------------------------------------------------------------- the staff page


@pytest.fixture
def admin_client(db):
    admin = User.objects.create_superuser("root", password=PASSWORD)
    client = Client()
    client.force_login(admin)
    return client


def test_staff_set_allowances_approve_and_invite(admin_client, settings):
    settings.ALEPH_SIGNUP = "approval"
    waiting = User.objects.create_user("waiting", password=PASSWORD, is_active=False)
    body = admin_client.get(reverse("staff")).content.decode()
    assert "waiting for approval" in body and "Sign-up: <strong>approval</strong>" in body
    admin_client.post(reverse("staff_allowance", args=[waiting.pk]), {"monthly_credits": "300"})
    assert Member.objects.get(user=waiting).monthly_credits == 300
    admin_client.post(reverse("staff_allowance", args=[waiting.pk]), {"unlimited": "on"})
    assert Member.objects.get(user=waiting).monthly_credits is None
    admin_client.post(reverse("staff_approve", args=[waiting.pk]))
    assert User.objects.get(pk=waiting.pk).is_active
    response = admin_client.post(reverse("staff_invite"), {"note": "for Carl"}, follow=True)
    link = next(str(m) for m in response.context["messages"] if "invite=" in str(m))
    token = link.split("invite=")[1].split()[0]
    settings.ALEPH_SIGNUP = "invite"
    assert _sign_up(Client(), "carl", invite=token).status_code == 302


def test_the_staff_page_is_not_there_for_anyone_else(owner_client, owner):
    for method, url in [
        ("get", reverse("staff")),
        ("post", reverse("staff_allowance", args=[owner.pk])),
        ("post", reverse("staff_approve", args=[owner.pk])),
        ("post", reverse("staff_invite")),
    ]:
        assert getattr(owner_client, method)(url, {"monthly_credits": "999999"}).status_code == 404
    assert Member.objects.get(user=owner).monthly_credits is None
    assert Invite.objects.count() == 0
