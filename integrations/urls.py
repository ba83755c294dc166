from django.urls import path

from . import forward_views, views

jira = "apps/<int:app_id>/settings/integrations/jira/"
connect = "integrations/jira/connect"

urlpatterns = [
    path(jira, views.jira_settings, name="jira_settings"),
    path(jira + "oauth/start/", views.jira_oauth_start, name="jira_oauth_start"),
    path(jira + "credentials/<str:auth_type>/", views.jira_credentials, name="jira_credentials"),
    path(jira + "connect-status/", views.jira_connect_status, name="jira_connect_status"),
    path(jira + "setup/", views.jira_setup, name="jira_setup"),
    path(jira + "test/", views.jira_test, name="jira_test"),
    path(jira + "test/delete/", views.jira_test_delete, name="jira_test_delete"),
    path(jira + "finish/", views.jira_finish, name="jira_finish"),
    path(jira + "disconnect/", views.jira_disconnect, name="jira_disconnect"),
    path(jira + "reconfigure/", views.jira_reconfigure, name="jira_reconfigure"),
    path(jira + "draft/site/", views.jira_draft_site, name="jira_draft_site"),
    path(jira + "draft/discard/", views.jira_draft_discard, name="jira_draft_discard"),
    # Registered with Atlassian (and the sandbox's demo app) as the app's callback URL.
    path("integrations/jira/oauth/callback", views.jira_oauth_callback, name="jira_oauth_callback"),
    # The legacy Connect add-on (its descriptor's paths, relative to SITE_URL).
    path(f"{connect}/atlassian-connect.json", views.connect_descriptor, name="connect_descriptor"),
    path(f"{connect}/installed", views.connect_installed, name="connect_installed"),
    path(f"{connect}/uninstalled", views.connect_uninstalled, name="connect_uninstalled"),
    path(f"{connect}/configure", views.connect_configure, name="connect_configure"),
    # Its webhook, and Jira's other webhook URLs, are routed first: integrations/webhook_urls.py.
    path(f"{connect}/link/<str:token>/", views.connect_link, name="connect_link"),
]

# Sending reports to Jira (forward_views): any member of the report's organization.
report_jira = "apps/<int:app_id>/reports/<int:number>/jira/"
urlpatterns += [
    path(report_jira, forward_views.jira_panel, name="jira_panel"),
    path(report_jira + "send/", forward_views.jira_send, name="jira_send"),
    path(report_jira + "preview/", forward_views.jira_preview, name="jira_preview"),
    path(report_jira + "link/", forward_views.jira_link, name="jira_link"),
    path(report_jira + "unlink/", forward_views.jira_unlink, name="jira_unlink"),
    path("apps/<int:app_id>/jira/send/", forward_views.jira_send_bulk, name="jira_send_bulk"),
    path("apps/<int:app_id>/jira/batches/<int:batch_id>/", forward_views.jira_batch, name="jira_batch"),
]
