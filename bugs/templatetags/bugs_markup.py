"""Template filters for user-written text: `{% load bugs_markup %}`."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from bugs.markdown import render_markdown_lite

register = template.Library()


@register.filter(name="markdown_lite")
def markdown_lite(text: object) -> SafeString:
    """Comment and description text as Markdown-lite HTML; everything typed is escaped first."""
    return render_markdown_lite("" if text is None else str(text))
