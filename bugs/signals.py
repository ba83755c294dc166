"""Events other apps subscribe to, so `bugs` never imports `integrations`.

Sent after the transaction that caused them has committed.
"""

from django.dispatch import Signal

# sender=BugReport, report=<BugReport>
report_created = Signal()
# sender=BugReport, report=<BugReport>, changes={field: (old, new)}, actor=<User|None>, origin=str
report_changed = Signal()
# sender=Comment, comment=<Comment>, action="created"|"updated"|"deleted", origin=str (where it
# was made: "dashboard", or "jira" for what two-way sync brought in)
comment_changed = Signal()
