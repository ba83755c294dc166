# The Jira Cloud pages (wizard, webhooks) are added by the integration issues.
urlpatterns: list = []
