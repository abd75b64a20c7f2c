from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from editor.models import Edit, Engine, Status
from editor.services import credits, providers


@require_GET
@login_required
def account(request: HttpRequest) -> HttpResponse:
    """Show the user's edits and estimated spend per engine, and the state of the remote engines."""
    per_engine = (
        Edit.objects.filter(project__owner=request.user)
        .values("engine")
        .annotate(
            edits=Count("pk"),
            succeeded=Count("pk", filter=Q(status=Status.SUCCEEDED)),
            usd=Sum("cost_usd"),
            credits=Sum("cost_credits"),
            provider_estimate=Sum("provider_estimate_credits"),
            charged=Sum("charged_credits"),
        )
        .order_by("engine")
    )
    rows = [{**row, "label": Engine(row["engine"]).label} for row in per_engine]
    remote = [
        {
            "label": providers.label(provider),
            "paused_until": providers.breaker_paused_until(provider),
            "credits": providers.credit_balance(provider),
        }
        for provider in providers.configured_providers()
    ]
    # The latest paid edits, with what was estimated and what was charged for each.
    paid = (
        Edit.objects.filter(project__owner=request.user)
        .exclude(engine=Engine.LOCAL)
        .select_related("project")
        .order_by("-created_at")[:20]
    )
    context = {
        "rows": rows,
        "paid": paid,
        "total_usd": sum((row["usd"] or 0) for row in rows),
        "providers": remote,
        "allowance": credits.allowance(request.user),
    }
    return render(request, "editor/account.html", context)
