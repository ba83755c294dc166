"""Dashboard pages. Views are glue: selectors read, services write. One module per area."""

from .apps import app_list, app_rotate_token, app_settings
from .home import healthz, home
from .report_page import (
    attachment_download,
    comment_create,
    comment_delete,
    comment_edit,
    report_detail,
)
from .reports import report_list, report_list_all, report_triage, reports_bulk

__all__ = [
    "app_list",
    "app_rotate_token",
    "app_settings",
    "attachment_download",
    "comment_create",
    "comment_delete",
    "comment_edit",
    "healthz",
    "home",
    "report_detail",
    "report_list",
    "report_list_all",
    "report_triage",
    "reports_bulk",
]
