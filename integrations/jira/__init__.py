"""Bugbridge's wire to Jira Cloud: the HTTP client, its typed errors, auth, and what builds on them."""
