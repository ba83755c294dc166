"""The sandbox's control API, for tests and scripts (JSON, no CSRF, no login; sandbox on only).

GET        _control/sites/<name>/knobs            → the site's knobs
PUT|PATCH  _control/sites/<name>/knobs            {knob: value, ...} → validated, stored, the knobs
GET|POST   _control/sites/<name>/admin-approval   {"required": bool}
GET|POST   _control/sites/<name>/projects/<key>/priority-scheme   {"custom": bool}
POST       _control/reset                         → every sandbox table wiped and seeded again

A bad knob name or type is a 400 `{"error": message}` and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from ..knobs import KnobError, Knobs, knobs_update
from ..models import Site
from . import actions

Handler = Callable[..., JsonResponse]


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _dispatch(request: HttpRequest, handlers: dict[str, Handler], **kwargs: Any) -> JsonResponse:
    handler = handlers.get(request.method or "GET")
    if handler is None:
        response = JsonResponse({"error": f"Method {request.method} is not allowed here."}, status=405)
        response["Allow"] = ", ".join(handlers)
        return response
    try:
        return handler(request, **kwargs)
    except ControlError as exc:
        return JsonResponse({"error": str(exc)}, status=exc.status)


def _site(name: str) -> Site:
    site = Site.objects.filter(name=name).first()
    if site is None:
        raise ControlError(404, f"There is no sandbox site named {name!r}.")
    return site


def _json_object(request: HttpRequest) -> dict[str, Any]:
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ControlError(400, "The body is not valid JSON.") from exc
    if not isinstance(data, dict):
        raise ControlError(400, "The body must be a JSON object.")
    return data


def _knobs_get(request: HttpRequest, name: str) -> JsonResponse:
    return JsonResponse(Knobs.of(_site(name)).as_dict())


def _knobs_change(request: HttpRequest, name: str) -> JsonResponse:
    site = _site(name)
    changes = _json_object(request)
    try:
        knobs = knobs_update(site=site, changes=changes)
    except KnobError as exc:
        raise ControlError(400, str(exc)) from exc
    return JsonResponse(knobs.as_dict())


def _approval_json(site: Site) -> JsonResponse:
    return JsonResponse({"site": site.name, "required": site.admin_approval_required})


def _approval_get(request: HttpRequest, name: str) -> JsonResponse:
    return _approval_json(_site(name))


def _approval_set(request: HttpRequest, name: str) -> JsonResponse:
    site = _site(name)
    required = _json_object(request).get("required")
    if not isinstance(required, bool):
        raise ControlError(400, 'Send {"required": true} or {"required": false}.')
    return _approval_json(actions.site_admin_approval_set(site=site, required=required))


def _project(name: str, key: str) -> Any:
    project = _site(name).projects.filter(key=key).first()
    if project is None:
        raise ControlError(404, f"There is no project {key!r} on {name!r}.")
    return project


def _scheme_json(project: Any) -> JsonResponse:
    return JsonResponse({"project": project.key, "custom": project.custom_priorities})


def _scheme_get(request: HttpRequest, name: str, key: str) -> JsonResponse:
    return _scheme_json(_project(name, key))


def _scheme_set(request: HttpRequest, name: str, key: str) -> JsonResponse:
    project = _project(name, key)
    custom = _json_object(request).get("custom")
    if not isinstance(custom, bool):
        raise ControlError(400, 'Send {"custom": true} or {"custom": false}.')
    return _scheme_json(actions.project_priority_scheme_set(project=project, custom=custom))


def _reset(request: HttpRequest) -> JsonResponse:
    from ..seed import sandbox_reset

    result = sandbox_reset()
    return JsonResponse({"reset": True, "sites": result.sites})


@csrf_exempt
@login_not_required
def knobs(request: HttpRequest, name: str) -> JsonResponse:
    """GET the site's knobs; PUT or PATCH a JSON object of changes."""
    return _dispatch(request, {"GET": _knobs_get, "PUT": _knobs_change, "PATCH": _knobs_change}, name=name)


@csrf_exempt
@login_not_required
def admin_approval(request: HttpRequest, name: str) -> JsonResponse:
    """GET the site's "admin must authorize this app" switch; POST {"required": bool} to set it."""
    return _dispatch(request, {"GET": _approval_get, "POST": _approval_set}, name=name)


@csrf_exempt
@login_not_required
def priority_scheme(request: HttpRequest, name: str, key: str) -> JsonResponse:
    """GET whether a project uses the custom priority scheme; POST {"custom": bool} to switch it."""
    return _dispatch(request, {"GET": _scheme_get, "POST": _scheme_set}, name=name, key=key)


@csrf_exempt
@login_not_required
def reset(request: HttpRequest) -> JsonResponse:
    """POST: wipe every sandbox table and seed the demo world again."""
    return _dispatch(request, {"POST": _reset})
