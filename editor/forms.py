"""Forms: parse and validate what the user sent; the services do the rest."""

from __future__ import annotations

import base64
import json
import secrets

from django import forms
from django.contrib.auth.forms import UserCreationForm

from editor.engines.base import RATIOS, SEED_MAX
from editor.models import Clip, Engine, Project, Reference, Status, Threshold


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ("username",)


class UploadForm(forms.Form):
    file = forms.FileField(label="Video file")
    title = forms.CharField(label="Title", max_length=200, required=False)


class ImportForm(forms.Form):
    url = forms.URLField(label="Video link (https)", max_length=2000, assume_scheme="https")
    title = forms.CharField(label="Title", max_length=200, required=False)


class ReferenceForm(forms.Form):
    image = forms.FileField(label="Reference image")


class FrameReferenceForm(forms.Form):
    clip = forms.IntegerField(widget=forms.HiddenInput)
    at = forms.FloatField(min_value=0, label="Time (seconds)")


def available_engines() -> list[tuple[str, str]]:
    """Return the engines this server can run (remote ones only when their key is set)."""
    from editor.services.remote_edits import configured_providers

    remote = configured_providers()
    return [(Engine.LOCAL.value, Engine.LOCAL.label)] + [(p, Engine(p).label) for p in remote]


def available_models() -> list[tuple[str, str]]:
    """Return the remote models offered by the configured providers."""
    from editor.services.remote_edits import configured_providers, models_for

    seen: list[str] = []
    for provider in configured_providers():
        seen += [m for m in models_for(provider) if m not in seen]
    return [(m, m) for m in seen]


def ratio_icon(ratio: str) -> tuple[int, int]:
    """Return a small (w, h) box in pixels that has the ratio's shape, for the ratio picker."""
    w, h = (int(x) for x in ratio.split(":"))
    scale = 22 / max(w, h)
    return round(w * scale), round(h * scale)


class EditForm(forms.Form):
    prompt = forms.CharField(
        label="Prompt",
        min_length=1,
        max_length=1000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 1000, "placeholder": "Relight this as golden hour"}),
    )
    input_clip = forms.ModelChoiceField(label="Input", queryset=Clip.objects.none(), empty_label=None)
    references = forms.ModelMultipleChoiceField(
        label="Reference images", queryset=Reference.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    ratio = forms.ChoiceField(label="Output ratio", choices=[(r, r) for r in RATIOS], initial="1280:720")
    seed = forms.IntegerField(
        label="Seed", min_value=0, max_value=SEED_MAX, required=False, help_text="Leave empty for a random seed."
    )
    public_figure_threshold = forms.ChoiceField(
        label="Public figure threshold", choices=Threshold.choices, initial=Threshold.AUTO
    )
    engine = forms.ChoiceField(label="Engine", choices=(), initial=Engine.LOCAL)
    model = forms.ChoiceField(label="Model", choices=(), required=False, initial="gen4_aleph")
    trim_start = forms.FloatField(
        label="Start of the part sent (seconds)", min_value=0, required=False, initial=0,
        help_text="Remote models take a window of the clip: gen4_aleph 5 s, aleph2 2–30 s.",
    )

    mask = forms.CharField(required=False, widget=forms.HiddenInput, max_length=14_000_000)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["input_clip"].queryset = Clip.objects.filter(project=project).filter(
            source_edit__isnull=True
        ) | Clip.objects.filter(project=project, source_edit__status=Status.SUCCEEDED)
        self.fields["input_clip"].label_from_instance = lambda clip: clip.label
        self.fields["references"].queryset = Reference.objects.filter(project=project)
        self.fields["engine"].choices = available_engines()
        self.fields["model"].choices = available_models()

    def clean(self):
        data = super().clean()
        engine = data.get("engine")
        if engine and engine != Engine.LOCAL and not data.get("model"):
            self.add_error("model", "Choose a model for the remote engine.")
        if engine == Engine.LOCAL:
            data["model"] = ""
        data["trim_start"] = data.get("trim_start") or 0.0
        clip = data.get("input_clip")
        if clip and data["trim_start"] >= clip.duration:
            self.add_error("trim_start", f"The clip is only {clip.duration:.2f} s long.")
        data["keyframes"] = self._keyframes(data, clip)
        return data

    def _keyframes(self, data, clip) -> list[dict]:
        """Pin each ticked reference to a time for aleph2; other models take at most one reference."""
        references = list(data.get("references") or [])
        model = data.get("model")
        if model == "gen4_aleph" and len(references) > 1:
            self.add_error("references", "gen4_aleph takes one reference image; tick only one.")
        if model != "aleph2":
            return []
        if len(references) > 5:
            self.add_error("references", "aleph2 takes at most 5 keyframe images.")
            return []
        window = max(0.0, (clip.duration if clip else 0.0) - data["trim_start"])
        keyframes = []
        for reference in references:
            raw = self.data.get(f"keyframe_at_{reference.pk}", "")
            try:
                seconds = float(raw)
            except ValueError:
                self.add_error("references", f"Give the time (in seconds) where “{reference}” belongs in the clip.")
                continue
            if not 0 <= seconds <= min(window, 30.0):
                self.add_error("references", f"The keyframe time {seconds:g} s lies outside the part of the clip that is sent.")
                continue
            keyframes.append({"reference": reference.pk, "seconds": round(seconds, 3)})
        return keyframes

    def clean_mask(self) -> bytes | None:
        """Decode the painted mask (a PNG data URL) into bytes; None when nothing was painted."""
        value = self.cleaned_data.get("mask") or ""
        if not value:
            return None
        prefix = "data:image/png;base64,"
        if not value.startswith(prefix):
            raise forms.ValidationError("The painted mask was not a PNG image.")
        try:
            return base64.b64decode(value[len(prefix) :], validate=True)
        except ValueError:
            raise forms.ValidationError("The painted mask could not be read.") from None

    def clean_seed(self) -> int:
        seed = self.cleaned_data.get("seed")
        return secrets.randbelow(SEED_MAX + 1) if seed is None else seed


SHARE_EXPIRY_CHOICES = [("7d", "7 days"), ("1d", "1 day"), ("30d", "30 days"), ("never", "Never")]


class ShareForm(forms.Form):
    expiry = forms.ChoiceField(label="Expires after", choices=SHARE_EXPIRY_CHOICES)
    show_original = forms.BooleanField(label="Show the original beside the result", required=False)


class ProjectFilterForm(forms.Form):
    q = forms.CharField(label="Search titles and prompts", required=False, max_length=200)
    status = forms.ChoiceField(label="Latest status", choices=[("", "Any status"), *Status.choices], required=False)
    engine = forms.ChoiceField(label="Engine", choices=[("", "Any engine"), *Engine.choices], required=False)
    starred = forms.BooleanField(label="Starred only", required=False)
    sort = forms.ChoiceField(
        label="Sort",
        choices=[("recent", "Last activity"), ("created", "Newest"), ("title", "Title"), ("edits", "Most edits")],
        required=False,
    )


class HistoryFilterForm(forms.Form):
    q = forms.CharField(label="Search prompts and projects", required=False, max_length=200)
    status = forms.ChoiceField(label="Status", choices=[("", "Any status"), *Status.choices], required=False)
    engine = forms.ChoiceField(label="Engine", choices=[("", "Any engine"), *Engine.choices], required=False)
    sort = forms.ChoiceField(
        label="Sort", choices=[("newest", "Newest"), ("oldest", "Oldest"), ("project", "Project")], required=False
    )


def initial_from_query(query, project: Project) -> dict:
    """Prefill the edit form from the query string ("use as input", "copy settings")."""
    initial: dict = {}
    query = _with_recipe(query)
    wanted = query.get("input", "")
    if wanted.isdigit():
        initial["input_clip"] = int(wanted)
    else:
        original = project.clips.filter(source_edit__isnull=True).first()
        initial["input_clip"] = original.pk if original else None
    for name in ("prompt", "ratio", "public_figure_threshold", "engine", "model"):
        if query.get(name):
            initial[name] = query[name][:1000]
    if query.get("seed", "").isdigit():
        initial["seed"] = int(query["seed"])
    if query.getlist("references"):
        initial["references"] = [int(r) for r in query.getlist("references") if r.isdigit()]
    return initial


RECIPE_FIELDS = ("prompt", "seed", "engine", "model", "ratio", "public_figure_threshold")


def _with_recipe(query):
    """Merge a pasted recipe (JSON from "copy recipe") into the query; bad JSON is ignored."""
    raw = query.get("recipe", "")
    if not raw:
        return query
    try:
        recipe = json.loads(raw)
    except ValueError:
        return query
    if not isinstance(recipe, dict):
        return query
    merged = query.copy()
    for name in RECIPE_FIELDS:
        if recipe.get(name) is not None and not query.get(name):
            merged[name] = str(recipe[name])
    return merged
