"""The report page's Jira panel, built by the integration for the page it is included in (the
report page is a bugs view, which knows nothing of Jira)."""

from __future__ import annotations

from typing import Any

from django import template

from integrations.forward_views import report_panel

register = template.Library()


@register.simple_tag(takes_context=True)
def jira_panel(context: template.Context) -> dict[str, Any]:
    """`{% jira_panel as jira %}`: the panel's context for `report`, as the panel's views give it."""
    return report_panel(context["request"], context["report"])
