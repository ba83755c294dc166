from django.urls import path

from . import views

report = "apps/<int:app_id>/reports/<int:number>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("apps/", views.app_list, name="app_list"),
    path("apps/<int:app_id>/settings/", views.app_settings, name="app_settings"),
    path("apps/<int:app_id>/settings/rotate-token/", views.app_rotate_token, name="app_rotate_token"),
    path("reports/", views.report_list_all, name="report_list_all"),
    path("reports/bulk/", views.reports_bulk, name="reports_bulk"),
    path("apps/<int:app_id>/reports/", views.report_list, name="report_list"),
    path(report, views.report_detail, name="report_detail"),
    path(report + "triage/", views.report_triage, name="report_triage"),
    path(report + "comments/", views.comment_create, name="comment_create"),
    path(report + "comments/<int:comment_id>/edit/", views.comment_edit, name="comment_edit"),
    path(report + "comments/<int:comment_id>/delete/", views.comment_delete, name="comment_delete"),
    path(report + "attachments/<int:attachment_id>/", views.attachment_download, name="attachment_download"),
]
