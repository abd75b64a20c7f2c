"""Who may spend the provider's credits: each user's monthly allowance, the server's monthly cap,
and the reservations that hold an edit's estimate until the provider says what it cost.

A reservation is made under a lock on one ledger row, in the transaction that records the edit, so
concurrent submits can never together overrun an allowance or the cap; a refused one records nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from editor.engines.remote import catalog
from editor.engines.remote.prepare import Cost
from editor.errors import InputError
from editor.models import Edit, Ledger, Member, Spend

LEDGER_KEY = "credits"


@dataclass(frozen=True)
class Allowance:
    # Credits a month (None: unlimited), spent or held this month, and what is left (None: unlimited).
    limit: int | None
    spent: int
    left: int | None

    def fits(self, credits: int) -> bool:
        return self.left is None or credits <= self.left


def month_start(now: datetime | None = None) -> datetime:
    """Return the start (UTC) of the month that `now` falls in."""
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def needed(cost: Cost) -> int | None:
    """Return the credits an estimate stands for (a price in dollars counts at $0.01 a credit); None
    when the price is only known once the provider has created the task."""
    if cost.credits is not None:
        return cost.credits
    return None if cost.usd is None else math.ceil(cost.usd / catalog.CREDIT_USD)


def spent_this_month(user=None, now: datetime | None = None) -> int:
    """Return the credits spent or held this month by a user (or, without one, by the whole server)."""
    rows = Spend.objects.filter(created_at__gte=month_start(now))
    if user is not None:
        rows = rows.filter(user=user)
    return rows.aggregate(total=Sum(Coalesce("charged_credits", "reserved_credits")))["total"] or 0


def spent_by_user(now: datetime | None = None) -> dict[int, int]:
    """Return each user's credits spent or held this month."""
    rows = Spend.objects.filter(created_at__gte=month_start(now)).values("user_id")
    totals = rows.annotate(total=Sum(Coalesce("charged_credits", "reserved_credits")))
    return {row["user_id"]: row["total"] or 0 for row in totals}


def monthly_limit(user) -> int | None:
    """Return a user's monthly allowance in credits (None: unlimited)."""
    member = Member.objects.filter(user=user).first()
    if member is None:
        return settings.ALEPH_DEFAULT_MONTHLY_CREDITS
    return member.monthly_credits


def allowance(user, now: datetime | None = None) -> Allowance:
    """Return what a user may still spend this month."""
    limit = monthly_limit(user)
    spent = spent_this_month(user, now)
    return Allowance(limit, spent, None if limit is None else max(0, limit - spent))


def server_left(now: datetime | None = None) -> int | None:
    """Return what the whole server may still spend this month under ALEPH_MONTHLY_CREDIT_CAP (None: no cap)."""
    cap = settings.ALEPH_MONTHLY_CREDIT_CAP
    return None if cap is None else max(0, cap - spent_this_month(None, now))


def reserve(edit: Edit, user, credits: int) -> Spend:
    """Hold an edit's estimated credits against its owner's allowance and the server's cap, or refuse.

    Call it inside the transaction that records the edit: the lock it takes lasts until that commits."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("reserve() must run inside the transaction that records the edit")
    Ledger.objects.select_for_update().get_or_create(key=LEDGER_KEY)
    mine = allowance(user)
    if credits is None:
        # No price is known before the provider creates the task, so no limit can be kept: such a
        # model is open only to unlimited accounts on a server without a monthly cap.
        if mine.limit is not None or settings.ALEPH_MONTHLY_CREDIT_CAP is not None:
            raise InputError(
                f"{edit.model} has no published price: what it costs is known only once {edit.get_engine_display()} "
                "has created the task, so it is open only to accounts with an unlimited allowance on a server "
                "without a monthly cap. Nothing was sent. Choose aleph2, or ask an administrator."
            )
        return Spend.objects.create(user=user, edit=edit, provider=edit.engine, reserved_credits=0)
    if not mine.fits(credits):
        if not mine.limit:
            raise InputError(
                "Your account has no allowance for paid engines. Ask an administrator for one, or use the local engine."
            )
        raise InputError(
            f"This edit is estimated at {credits} credits; your allowance has {mine.left} of {mine.limit} credits "
            "left this month. Nothing was sent. Ask an administrator for more, or use the local engine."
        )
    left = server_left()
    if left is not None and credits > left:
        raise InputError(
            f"This edit is estimated at {credits} credits; the server's monthly cap has {left} credits left. "
            "Nothing was sent. Ask an administrator, or use the local engine."
        )
    return Spend.objects.create(user=user, edit=edit, provider=edit.engine, reserved_credits=credits)


def settle(edit_id: int, credits: int) -> None:
    """Replace an edit's open reservation with what the provider charged (0: nothing was billed)."""
    open_spend = Spend.objects.filter(edit_id=edit_id, settled_at__isnull=True).order_by("-created_at").first()
    if open_spend is not None:
        Spend.objects.filter(pk=open_spend.pk, settled_at__isnull=True).update(
            charged_credits=credits, settled_at=timezone.now()
        )


def hold(edit_id: int, credits: int) -> None:
    """Hold the provider's own estimate for an edit whose price the studio could not know beforehand."""
    Spend.objects.filter(edit_id=edit_id, settled_at__isnull=True, reserved_credits=0).update(reserved_credits=credits)


def release(edit_id: int) -> None:
    """Give an edit's open reservation back: nothing billable reached the provider."""
    settle(edit_id, 0)


def keep(edit_id: int) -> None:
    """Settle an edit's open reservation at its estimate (the provider reported no cost)."""
    open_spend = Spend.objects.filter(edit_id=edit_id, settled_at__isnull=True).order_by("-created_at").first()
    if open_spend is not None:
        settle(edit_id, open_spend.reserved_credits)
