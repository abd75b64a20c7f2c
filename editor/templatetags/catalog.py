"""Template filters that read the model catalogue, so cards show only what a model takes."""

from __future__ import annotations

from django import template

from editor.engines.remote import catalog

register = template.Library()


@register.filter
def takes_seed(edit) -> bool:
    """Tell whether an edit's engine or model uses a seed (the local engine and most models do)."""
    spec = catalog.MODELS.get(edit.model)
    return edit.is_local or spec is None or spec.takes_seed


@register.filter
def takes_moderation(edit) -> bool:
    """Tell whether an edit's public-figure threshold meant anything to its engine or model."""
    spec = catalog.MODELS.get(edit.model)
    return edit.is_local or spec is None or spec.takes_moderation


@register.filter
def field_named(form, name: str):
    """Return a form's bound field by name (for loops over a list of field names)."""
    return form[name]
