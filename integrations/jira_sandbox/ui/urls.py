"""The sandbox's pages and its control API (relative to /sandbox/jira/, in the jira_sandbox namespace).

Issue pages live at `site/<name>/browse/<KEY>` because that is a real Jira issue's URL
(`<site URL>/browse/KEY-1`), which the product links to.
"""

from django.urls import path

from . import control, views

urlpatterns = [
    path("", views.home, name="home"),
    path("actor", views.actor_set, name="ui_actor"),
    path("reset", views.reset, name="ui_reset"),
    path("site/<slug:name>/", views.site, name="site"),
    path("site/<slug:name>/admin-approval", views.admin_approval, name="ui_admin_approval"),
    path(
        "site/<slug:name>/connect/<int:pk>/uninstall",
        views.connect_uninstall_confirm,
        name="ui_connect_uninstall",
    ),
    path("site/<slug:name>/projects/<str:key>/", views.project, name="project"),
    path(
        "site/<slug:name>/projects/<str:key>/priority-scheme",
        views.priority_scheme,
        name="ui_priority_scheme",
    ),
    path("site/<slug:name>/browse/<str:issue_key>", views.issue, name="issue"),
    path("site/<slug:name>/deliveries", views.deliveries, name="deliveries"),
    path("site/<slug:name>/requests", views.requests_log, name="requests"),
    path("_control/sites/<slug:name>/knobs", control.knobs, name="control_knobs"),
    path("_control/sites/<slug:name>/admin-approval", control.admin_approval, name="control_admin_approval"),
    path(
        "_control/sites/<slug:name>/projects/<str:key>/priority-scheme",
        control.priority_scheme,
        name="control_priority_scheme",
    ),
    path("_control/reset", control.reset, name="control_reset"),
]
