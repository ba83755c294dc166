"""A real Celery worker process sends the sandbox's webhook deliveries from the real broker."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from integrations.jira_sandbox import delivery, services
from integrations.jira_sandbox.models import Account, Delivery, Site, Webhook
from integrations.jira_sandbox.seed import sandbox_seed
from tests.celery_worker import celery_worker

ROOT = Path(__file__).resolve().parents[3]


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_delivers_a_signed_webhook(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox_seed()
    site = Site.objects.get(name="acme")
    alice = Account.objects.get(email="alice@acme.example")
    Webhook.objects.create(
        site=site,
        webhook_id=900,
        kind=Webhook.Kind.ADMIN,
        registered_by=alice,
        url=f"http://127.0.0.1:{server.server_port}/hook",
        events=["jira:issue_created"],
        secret="worker-secret",
    )
    # Keep this process from sending: the ids go to the worker through the broker instead.
    queued: list[int] = []
    monkeypatch.setattr(delivery, "enqueue", lambda ids: queued.extend(ids))
    with transaction.atomic():
        services.issue_create(
            site=site,
            actor=alice,
            fields={"project": {"key": "WEB"}, "issuetype": {"id": "10004"}, "summary": "Via the worker"},
        )
    assert len(queued) == 1 and Delivery.objects.get(pk=queued[0]).state == Delivery.State.PENDING

    try:
        with celery_worker(tmp_path) as worker:
            worker.send("integrations.jira_sandbox.tasks.deliver", [queued])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not _Receiver.received:
                worker.assert_alive()
                time.sleep(0.2)
            assert _Receiver.received, "the worker never delivered"
            headers, body = _Receiver.received[0]
            expected = "sha256=" + hmac.new(b"worker-secret", body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Hub-Signature"], expected)
            assert json.loads(body)["webhookEvent"] == "jira:issue_created"
            row = Delivery.objects.get(pk=queued[0])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and row.state != Delivery.State.DELIVERED:
                time.sleep(0.2)
                row.refresh_from_db()
            assert row.state == Delivery.State.DELIVERED
    finally:
        server.shutdown()
