"""The writes that belong to the sandbox's console itself (no Jira event follows them).

Everything that changes Jira data (issues, comments, Connect installs) goes through the sandbox's
services instead, so the UI fires exactly the webhooks an API call would.
"""

from __future__ import annotations

import logging

from django.db import transaction

from ..models import Project, Site, metadata_changed

logger = logging.getLogger(__name__)


@transaction.atomic
def site_admin_approval_set(*, site: Site, required: bool) -> Site:
    """Turn the site's "Your site admin must authorize this app" switch on or off (3LO consents)."""
    Site.objects.filter(pk=site.pk).update(admin_approval_required=required)
    site.admin_approval_required = required
    logger.info("jira_sandbox.admin_approval.set", extra={"site": site.name, "required": required})
    return site


@transaction.atomic
def project_priority_scheme_set(*, project: Project, custom: bool) -> Project:
    """Move a project to the site's custom priority scheme, or back to the default five.

    Jira Cloud's priority schemes: createmeta's allowed priorities, issue validation and
    `priorityscheme` all follow this switch from the next call on.
    """
    Project.objects.filter(pk=project.pk).update(custom_priorities=custom)
    metadata_changed([project.site_id])  # an update() sends no signal; per-process caches must hear of it
    project.custom_priorities = custom
    logger.info("jira_sandbox.priority_scheme.set", extra={"project": project.key, "custom": custom})
    return project
