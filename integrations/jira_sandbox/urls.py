"""The sandbox's three Atlassian roles under one prefix (mounted at /sandbox/jira/ when JIRA_SANDBOX).

auth/…                         the auth server (auth.atlassian.com)
api/…                          the API gateway (api.atlassian.com), `/ex/jira/{cloudId}/rest/…`
site/<name>/…                  a site (`<name>.atlassian.net`): REST, `_edge/tenant_info`, its UI
"""

from django.urls import include, path

from . import connect, oauth
from .api import attachments, comments, issues, meta, permissions, search, webhooks
from .ui import urls as ui_urls

app_name = "jira_sandbox"

# One list serves both the site URL and the gateway; the broadest patterns (issue/<key>) go last.
rest_api_3 = [
    *meta.urlpatterns,
    *permissions.urlpatterns,
    *search.urlpatterns,
    *webhooks.urlpatterns,
    *comments.urlpatterns,
    *attachments.urlpatterns,
    *issues.urlpatterns,
]

urlpatterns = [
    path("auth/", include(oauth.auth_server_patterns)),
    path("api/", include(oauth.gateway_patterns)),
    path("api/ex/jira/<str:cloud_id>/rest/api/3/", include(rest_api_3), {"mode": "gateway"}),
    path(
        "api/ex/jira/<str:cloud_id>/rest/webhooks/1.0/", include(webhooks.admin_patterns), {"mode": "gateway"}
    ),
    path("site/<slug:site_name>/rest/api/3/", include(rest_api_3), {"mode": "site"}),
    path("site/<slug:site_name>/rest/webhooks/1.0/", include(webhooks.admin_patterns), {"mode": "site"}),
    path("site/<slug:site_name>/_edge/tenant_info", meta.tenant_info, name="tenant_info"),
    path("connect/", include(connect.urlpatterns)),
    path("", include(ui_urls)),
]
