"""App management: adding apps, their settings and SDK tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.selectors import membership_require_current
from bugs import selectors, services
from bugs.forms import AppForm


@require_http_methods(["GET", "POST"])
def app_list(request: HttpRequest) -> HttpResponse:
    membership = membership_require_current(request)
    form = AppForm(request.POST or None, organization_id=membership.organization_id)
    if request.method == "POST":
        if not membership.can_manage:
            raise PermissionDenied("Only owners and admins can add apps.")
        if form.is_valid():
            app, token = services.app_create(organization=membership.organization, **form.cleaned_data)
            return _token_page(request, app, token, created=True)
    apps = selectors.apps_for_membership(membership=membership)
    status = 400 if form.errors else 200
    return render(
        request, "bugs/app_list.html", {"membership": membership, "apps": apps, "form": form}, status=status
    )


@never_cache
def _token_page(request: HttpRequest, app: Any, token: str, *, created: bool) -> HttpResponse:
    # The only time the token is ever shown: rendered in this response, stored nowhere.
    context = {"app": app, "token": token, "created": created, "site_url": settings.SITE_URL}
    return render(request, "bugs/app_token.html", context)


@require_GET
def app_settings(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_get(user=request.user, app_id=app_id)
    membership = selectors.app_membership(user=request.user, app=app)
    context = {"app": app, "membership": membership, "site_url": settings.SITE_URL}
    return render(request, "bugs/app_settings.html", context)


@require_http_methods(["GET", "POST"])
def app_rotate_token(request: HttpRequest, app_id: int) -> HttpResponse:
    app = selectors.app_get(user=request.user, app_id=app_id)
    if not selectors.app_membership(user=request.user, app=app).can_manage:
        raise PermissionDenied("Only owners and admins can rotate SDK tokens.")
    if request.method == "POST":
        token = services.app_rotate_token(app=app)
        return _token_page(request, app, token, created=False)
    return render(
        request,
        "confirm.html",
        {
            "title": f"Rotate the SDK token of {app.name}?",
            "body": "The current token stops working immediately: builds of your app that still "
            "use it will get 401 errors until they ship with the new token.",
            "action": "Rotate token",
            "danger": True,
            "cancel_url": reverse("app_settings", kwargs={"app_id": app.pk}),
        },
    )
