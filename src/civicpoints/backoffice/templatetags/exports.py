from django import template
from django.http import HttpRequest

from civicpoints.faces.tables import NOT_FILTERS

register = template.Library()


@register.simple_tag(takes_context=True)
def export_href(context: template.Context, fmt: str) -> str:
    """``?<the list's filters>&export=<fmt>``: the file of the list as it is filtered."""
    request: HttpRequest = context["request"]
    query = request.GET.copy()
    for key in NOT_FILTERS:
        query.pop(key, None)
    query["export"] = fmt
    return f"?{query.urlencode()}"
