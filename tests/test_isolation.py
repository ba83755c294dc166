"""Walk every URL pattern of the project as a member of another organization: nothing leaks.

A new URL pattern with a new kind of argument fails here until the walk knows how to fill it,
so no page can be added without being checked.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import Invitation, Role
from accounts.services import invitation_create
from bugs import services
from bugs.models import Attachment
from integrations.models import ForwardBatch, IssueLink, JiraConnection
from tests.factories import (
    AppFactory,
    CommentFactory,
    MembershipFactory,
    ReportFactory,
)

# allauth's pages are about the signed-in user only; the SDK API is token-scoped and walked in
# tests/bugs/test_api.py (another app's report there is a 404 too). The sandbox Jira stands in
# for an external Jira Cloud with its own credentials; tests/integrations/jira_sandbox walks it.
SKIP_PREFIXES = ("accounts/", "api/v1/", "static/", "sandbox/jira/")
# Jira's webhook endpoints answer to a signature, not to a session: anyone unsigned gets a 401
# (tests/integrations/test_webhook_intake.py checks them in full).
SIGNED_PREFIXES = ("integrations/jira/webhooks/",)


def _walk(resolvers: list, prefix: str = "") -> list[tuple[str, URLPattern]]:
    found = []
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            found += _walk(entry.url_patterns, prefix + str(entry.pattern))
        else:
            found.append((prefix + str(entry.pattern), entry))
    return found


def _fill(route: str, values: dict[str, str]) -> str:
    """Turn a route (path() syntax or admin's regexes) into a concrete URL."""
    route = route.lstrip("^").rstrip("$").replace("\\Z", "")
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], route)
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values[m.group(1)], route)
    return "/" + route.replace("\\", "")


@pytest.fixture
def victim(db, settings):  # type: ignore[no-untyped-def]
    """Organization A, with one of everything and distinctive names to look for."""
    marker = f"SECRET-{uuid.uuid4().hex[:8]}"
    owner = MembershipFactory(role=Role.OWNER, organization__name=f"Org {marker}")
    colleague = MembershipFactory(
        organization=owner.organization, user__email=f"{marker.lower()}@example.com"
    )
    app = AppFactory(organization=owner.organization, name=f"App {marker}")
    report = ReportFactory(app=app, title=f"Report {marker}")
    comment = CommentFactory(report=report, author=owner.user, body=f"Comment {marker}")
    from django.core.files.uploadedfile import SimpleUploadedFile

    (attachment,) = services.attachments_add(
        report=report,
        files=[SimpleUploadedFile("log.txt", f"Attachment {marker}".encode(), content_type="text/plain")],
    )
    # Sent to Jira in a bulk send: the report's link, and the batch's progress page.
    connection = JiraConnection.objects.create(
        app=app, auth_type="basic", site_url="https://acme.atlassian.net", project_id="1", project_key="WEB"
    )
    batch = ForwardBatch.objects.create(app=app, requested_by=owner.user, total=1)
    IssueLink.objects.create(
        report=report, connection=connection, batch=batch, state="linked", issue_key=f"WEB-{marker}"
    )
    invitation, _token = invitation_create(
        organization=owner.organization, email="new@example.com", role=Role.MEMBER, invited_by=owner.user
    )
    return {
        "marker": marker,
        "values": {
            "app_id": str(app.pk),
            "number": str(report.number),
            "comment_id": str(comment.pk),
            "attachment_id": str(attachment.pk),
            "member_id": str(colleague.pk),
            "invitation_id": str(invitation.pk),
            "batch_id": str(batch.pk),
            "connection_id": str(connection.pk),
            # The invitation link is itself the credential: an outsider holds a wrong one.
            "token": "inv_not-the-real-token",
            "auth_type": "basic",
            # Django admin's own arguments.
            "object_id": str(report.pk),
            "id": str(owner.user_id),
            "app_label": "bugs",
            "content_type_id": "1",
            "url": "x",
            "path": "x",
        },
        "organization_id": owner.organization_id,
    }


@pytest.mark.django_db
def test_every_url_pattern_hides_another_organizations_data(client, victim):  # type: ignore[no-untyped-def]
    outsider = MembershipFactory(role=Role.OWNER)
    client.force_login(outsider.user)
    patterns = [
        (route, p) for route, p in _walk(get_resolver().url_patterns) if not route.startswith(SKIP_PREFIXES)
    ]
    assert len(patterns) > 20, "the walk found too few patterns: is it walking the real URLconf?"
    object_patterns = 0
    for route, pattern in patterns:
        url = _fill(str(route), victim["values"])
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"organization_id": victim["organization_id"]})
            body = response.content.decode(errors="replace")
            assert victim["marker"] not in body, f"{method.upper()} {url} leaked organization A's data"
            if response.status_code in (301, 302):
                # Only ever to a login page or inside the outsider's own pages, never to A's.
                assert victim["marker"] not in response.get("Location", "")
            has_object = bool(pattern.pattern.converters) and not route.startswith("admin/")
            if route.startswith(SIGNED_PREFIXES):
                assert response.status_code in (401, 405), f"{method.upper()} {url}: {response.status_code}"
            elif has_object:
                assert response.status_code in (404, 405), (
                    f"{method.upper()} {url} answered {response.status_code}, expected 404 for "
                    "another organization's object"
                )
        if pattern.pattern.converters and not route.startswith("admin/"):
            object_patterns += 1
    assert object_patterns >= 10
    # Nothing was changed either.
    assert Attachment.objects.filter(pk=victim["values"]["attachment_id"]).exists()
    assert Invitation.objects.filter(pk=victim["values"]["invitation_id"], accepted_at=None).exists()
    assert IssueLink.objects.filter(report__title__contains=victim["marker"]).count() == 1
