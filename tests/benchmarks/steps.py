"""What the benchmarks that run steps in subprocesses share: each benchmark module doubles as a
script (`python -m tests.benchmarks.<module> <command> <args...>`) that sets Django up with the
bench settings, runs one step and prints its result as JSON on its last line; the benchmark,
in pytest, runs those steps with `step` and stops its servers and workers with `stop`.

A module's steps are a table: command name → function of the command's arguments (as text).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

from .test_ingest import _manage

Steps = Mapping[str, Callable[[list[str]], Any]]


def main(argv: list[str], steps: Steps) -> None:
    """Run the step `argv[0]` with the arguments after it; print its result as JSON."""
    import django

    django.setup()
    command, args = argv[0], argv[1:]
    if command not in steps:
        raise SystemExit(f"unknown command {command}; known: {', '.join(steps)}")
    print(json.dumps(steps[command](args), default=str))


def step(env: dict[str, str], module: str, *args: object) -> dict[str, Any]:
    """Run one step of `module` in a subprocess with `env`; its JSON result."""
    out = _manage(env, "-m", module, *map(str, args))
    return json.loads(out.strip().splitlines()[-1])


def organization_delete(organization_id: int) -> dict[str, Any]:
    """Delete a benchmark's organization (its apps, reports and links go with it) and the users
    it made that belong to no other organization: for a BENCH_DATABASE_URL, which outlives the
    run."""
    from accounts.models import Organization, User

    users = list(
        User.objects.filter(memberships__organization_id=organization_id).values_list("pk", flat=True)
    )
    deleted, _ = Organization.objects.filter(pk=organization_id).delete()
    User.objects.filter(pk__in=users, memberships__isnull=True).delete()
    return {"deleted": deleted}


def stop(process: subprocess.Popen[bytes], *, group: bool = False) -> None:
    """Stop a server or worker: SIGTERM, then SIGKILL after 15 s. `group`: the process leads a
    session of its own (gunicorn's arbiter and workers, celery's pool) and all of it is sent
    the signal."""
    if process.poll() is not None:
        return
    if group:
        os.killpg(process.pid, signal.SIGTERM)
    else:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        if group:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()
