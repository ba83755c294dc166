"""The overview page (and the health check)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from accounts.selectors import membership_current
from bugs import charts, selectors

TREND_TITLE = f"New reports per day, last {selectors.TREND_DAYS} days"


@login_not_required
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    membership = membership_current(request)
    if membership is None:
        return redirect("organization_create")
    panels = [
        {"overview": overview, "chart": charts.daily_bar_chart(overview.new_per_day, title=TREND_TITLE)}
        for overview in selectors.app_overviews(membership=membership)
    ]
    return render(request, "bugs/home.html", {"membership": membership, "panels": panels})
