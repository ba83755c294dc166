"""Attachments: Jira's XSRF header, `file` parts, the site's size limit, metadata, content, delete."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from integrations.jira_sandbox.knobs import knobs_update
from integrations.jira_sandbox.models import ApiToken, Attachment, ChangelogEntry, Issue, Site

from .conftest import JiraCaller

pytestmark = pytest.mark.django_db

NO_CHECK = {"X-Atlassian-Token": "no-check"}


def upload(api: JiraCaller, key: str, *files: SimpleUploadedFile, field: str = "file", **kw: Any) -> Any:
    headers = kw.pop("headers", NO_CHECK)
    return api.post(f"/issue/{key}/attachments", data={field: list(files)}, headers=headers, **kw)


def png(name: str = "screen.png", size: int = 64) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"\x89PNG" + b"\x00" * (size - 4), content_type="image/png")


def text(name: str, content: bytes = b"hello") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def test_upload_without_the_xsrf_header_is_refused_as_jira_does(site_api: JiraCaller) -> None:
    response = upload(site_api, "MOB-1", png(), headers={})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"XSRF check failed"
    wrong = upload(site_api, "MOB-1", png(), headers={"X-Atlassian-Token": "check"})
    assert wrong.status_code == 403
    assert not Attachment.objects.exists()


def test_upload_stores_every_file_part_and_answers_the_list(site_api: JiraCaller) -> None:
    site = Site.objects.get(name="acme")
    first_id = site.next_attachment_id
    response = upload(site_api, "MOB-1", png("a.png", 100), text("notes.txt", b"steps"))
    assert response.status_code == 200
    body = response.json()
    assert [a["filename"] for a in body] == ["a.png", "notes.txt"]
    assert [a["id"] for a in body] == [str(first_id), str(first_id + 1)]
    assert [a["size"] for a in body] == [100, 5]
    # The part's type is kept; a generic one is replaced by what the name says.
    assert [a["mimeType"] for a in body] == ["image/png", "text/plain"]
    assert body[0]["author"]["displayName"] == "Alice Admin"
    assert Site.objects.get(pk=site.pk).next_attachment_id == first_id + 2
    assert Issue.objects.get(key="MOB-1").attachments.count() == 2


def test_upload_is_recorded_in_the_issues_history(site_api: JiraCaller) -> None:
    before = Issue.objects.get(key="MOB-1").updated
    attachment_id = upload(site_api, "MOB-1", png()).json()[0]["id"]
    issue = Issue.objects.get(key="MOB-1")
    assert issue.updated > before
    entry = ChangelogEntry.objects.get(issue=issue)
    assert entry.items[0]["fieldId"] == "attachment"
    assert entry.items[0]["to"] == attachment_id
    assert entry.items[0]["toString"] == "screen.png"


def test_parts_must_be_named_file(site_api: JiraCaller) -> None:
    response = upload(site_api, "MOB-1", png(), field="upload")
    assert response.status_code == 400
    assert not Attachment.objects.exists()


def test_more_than_60_files_is_a_413(site_api: JiraCaller) -> None:
    files = [text(f"f{n}.txt", b"x") for n in range(61)]
    response = upload(site_api, "MOB-1", *files)
    assert response.status_code == 413
    assert response.json()["errorMessages"]
    assert not Attachment.objects.exists()
    assert upload(site_api, "MOB-1", *files[:60]).status_code == 200


def test_a_file_over_the_sites_limit_is_a_413_and_nothing_is_stored(site_api: JiraCaller) -> None:
    knobs_update(site=Site.objects.get(name="acme"), changes={"upload_limit": 100})
    assert site_api.get("/attachment/meta").json()["uploadLimit"] == 100
    response = upload(site_api, "MOB-1", png("small.png", 100), png("big.png", 101))
    assert response.status_code == 413
    assert "big.png" in response.json()["errorMessages"][0]
    assert not Attachment.objects.exists()
    assert upload(site_api, "MOB-1", png("small.png", 100)).status_code == 200


def test_unknown_issue_is_404(site_api: JiraCaller) -> None:
    assert upload(site_api, "MOB-999", png()).status_code == 404


def test_metadata_and_content_of_an_attachment(site_api: JiraCaller) -> None:
    payload = b"\x89PNG" + bytes(range(60))
    attachment_id = upload(site_api, "WEB-1", SimpleUploadedFile("p.png", payload, "image/png")).json()[0][
        "id"
    ]
    meta = site_api.get(f"/attachment/{attachment_id}")
    assert meta.status_code == 200
    assert meta.json()["id"] == int(attachment_id)
    assert meta.json()["size"] == len(payload)
    content_path = meta.json()["content"].split("/rest/api/3", 1)[1]
    for params in ({}, {"redirect": "false"}):
        content = site_api.get(content_path, params=params)
        assert content.status_code == 200
        assert content["Content-Type"] == "image/png"
        assert content.content == payload
    assert site_api.get("/attachment/999999").status_code == 404
    assert site_api.get("/attachment/content/999999").status_code == 404


def test_deleting_an_attachment(site_api: JiraCaller) -> None:
    attachment_id = upload(site_api, "WEB-1", text("gone.txt")).json()[0]["id"]
    assert site_api.delete(f"/attachment/{attachment_id}").status_code == 204
    assert site_api.get(f"/attachment/{attachment_id}").status_code == 404
    last = ChangelogEntry.objects.filter(issue__key="WEB-1").order_by("changelog_id").last()
    assert last is not None and last.items[0]["from"] == attachment_id and last.items[0]["to"] is None
    assert site_api.delete(f"/attachment/{attachment_id}").status_code == 404


def test_gateway_uploads_need_the_write_scope(gateway_api: JiraCaller) -> None:
    uploaded = upload(gateway_api, "MOB-1", png())
    assert uploaded.status_code == 200
    assert "/api/ex/jira/" in uploaded.json()[0]["content"]
    ApiToken.objects.filter(scoped=True).update(scopes=["read:jira-work"])
    assert upload(gateway_api, "MOB-1", png()).status_code == 401
    assert gateway_api.delete(f"/attachment/{uploaded.json()[0]['id']}").status_code == 401
    assert gateway_api.get(f"/attachment/{uploaded.json()[0]['id']}").status_code == 200
