from django.urls import path

from . import views

urlpatterns = [
    path("orgs/switch/", views.organization_switch, name="organization_switch"),
    path("orgs/new/", views.organization_create, name="organization_create"),
    path("members/", views.member_list, name="member_list"),
    path("members/invite/", views.invitation_create, name="invitation_create"),
    path("members/<int:member_id>/remove/", views.member_remove, name="member_remove"),
    path("members/<int:member_id>/role/", views.member_change_role, name="member_change_role"),
    path(
        "invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
    path("invites/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
