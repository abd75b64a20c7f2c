"""Forms: parse and validate what the user sent; the services do the rest."""

from __future__ import annotations

import json
import secrets

from django import forms
from django.contrib.auth.forms import UserCreationForm

from editor import media
from editor.constants import PROMPT_MAX_CHARS, RATIOS, SEED_MAX
from editor.engines.remote import catalog
from editor.models import Clip, Engine, Project, Reference, Status, Threshold
from editor.recipe import FIELDS as RECIPE_FIELDS
from editor.services import providers


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


def ratio_icon(ratio: str) -> tuple[int, int]:
    """Return a small (w, h) box in pixels that has the ratio's shape, for the ratio picker."""
    w, h = (int(x) for x in ratio.split(":"))
    scale = 22 / max(w, h)
    return round(w * scale), round(h * scale)


def _input_clips(project: Project):
    """The clips an edit may take as input: the original and every finished result."""
    return Clip.objects.filter(project=project, source_edit__isnull=True) | Clip.objects.filter(
        project=project, source_edit__status=Status.SUCCEEDED
    )


class EstimateForm(forms.Form):
    """What the cost of an edit depends on: engine, model, input and the start of the part sent."""

    engine = forms.ChoiceField(label="Engine", choices=(), initial=Engine.LOCAL)
    model = forms.ChoiceField(label="Model", choices=(), required=False, initial=catalog.DEFAULT_MODEL)
    input_clip = forms.ModelChoiceField(label="Input", queryset=Clip.objects.none(), empty_label=None)
    trim_start = forms.FloatField(
        label="Start of the part sent (seconds)",
        min_value=0,
        required=False,
        initial=0,
        help_text=f"Remote models take a window of the clip: {catalog.windows_text()}.",
    )

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["input_clip"].queryset = _input_clips(project)
        self.fields["input_clip"].label_from_instance = lambda clip: clip.label
        self.fields["engine"].choices = providers.engine_choices()
        self.fields["model"].choices = providers.model_choices()

    def clean_trim_start(self) -> float:
        return self.cleaned_data.get("trim_start") or 0.0


class EditForm(EstimateForm):
    prompt = forms.CharField(
        label="Prompt",
        min_length=1,
        max_length=PROMPT_MAX_CHARS,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Relight this as golden hour"}),
    )
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
    # Painted on the page and sent as a PNG file (white = remove).
    mask = forms.FileField(required=False)

    field_order = ["prompt", "input_clip", "references", "ratio", "seed", "public_figure_threshold", "engine", "model"]

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, project=project, **kwargs)
        self.fields["references"].queryset = Reference.objects.filter(project=project)

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
        """Pin each ticked reference to a time for a model that takes keyframes; others take few references."""
        references = list(data.get("references") or [])
        spec = catalog.MODELS.get(data.get("model") or "")
        if spec is None:
            return []
        if not spec.max_keyframes:
            if len(references) > spec.max_references:
                if spec.max_references == 0:
                    self.add_error("references", f"{spec.name} takes no reference images; untick them.")
                else:
                    count = "one" if spec.max_references == 1 else str(spec.max_references)
                    plural = "s" if spec.max_references > 1 else ""
                    self.add_error("references", f"{spec.name} takes {count} reference image{plural}; tick only {count}.")
            return []
        if len(references) > spec.max_keyframes:
            self.add_error("references", f"{spec.name} takes at most {spec.max_keyframes} keyframe images.")
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
            if not 0 <= seconds <= min(window, spec.window[1]):
                self.add_error("references", f"The keyframe time {seconds:g} s lies outside the part of the clip that is sent.")
                continue
            keyframes.append({"reference": reference.pk, "seconds": round(seconds, 3)})
        return keyframes

    def clean_mask(self) -> bytes | None:
        """Read the painted mask into bytes (checked by the service); None when nothing was painted."""
        upload = self.cleaned_data.get("mask")
        if not upload:
            return None
        if upload.size > media.MAX_MASK_BYTES:
            raise forms.ValidationError(f"The mask is larger than {media.MAX_MASK_BYTES // (1024 * 1024)} MB.")
        return upload.read()

    def clean_seed(self) -> int:
        seed = self.cleaned_data.get("seed")
        return secrets.randbelow(SEED_MAX + 1) if seed is None else seed

    def reference_rows(self) -> list[dict]:
        """Return each reference with its keyframe time as the form shows it (sent, copied, or 0)."""
        source = self.data if self.is_bound else self.initial.get("keyframe_times", {})
        return [
            {"reference": reference, "time": source.get(f"keyframe_at_{reference.pk}", "0")}
            for reference in self.fields["references"].queryset.order_by("pk")
        ]


class AllowanceForm(forms.Form):
    monthly_credits = forms.IntegerField(label="Credits a month", min_value=0, required=False)
    unlimited = forms.BooleanField(label="Unlimited", required=False)

    def clean(self):
        data = super().clean()
        if data.get("unlimited"):
            data["monthly_credits"] = None
        elif data.get("monthly_credits") is None and not self.errors:
            raise forms.ValidationError("Give a number of credits, or tick unlimited.")
        return data


class InviteForm(forms.Form):
    note = forms.CharField(label="Who it is for (a note for you)", max_length=200, required=False)


SHARE_EXPIRY_CHOICES = [("7d", "7 days"), ("1d", "1 day"), ("30d", "30 days"), ("never", "Never")]


class ShareForm(forms.Form):
    expiry = forms.ChoiceField(label="Expires after", choices=SHARE_EXPIRY_CHOICES)
    show_original = forms.BooleanField(label="Show the original beside the result", required=False)


class HistoryFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(label="Status", choices=[("", "Any status"), *Status.choices], required=False)
    engine = forms.ChoiceField(label="Engine", choices=[("", "Any engine"), *Engine.choices], required=False)
    sort = forms.ChoiceField(
        label="Sort", choices=[("newest", "Newest"), ("oldest", "Oldest"), ("project", "Project")], required=False
    )
    placeholder = "Search prompts and projects"


class ProjectFilterForm(HistoryFilterForm):
    status = forms.ChoiceField(label="Latest status", choices=[("", "Any status"), *Status.choices], required=False)
    sort = forms.ChoiceField(
        label="Sort",
        choices=[("recent", "Last activity"), ("created", "Newest"), ("title", "Title"), ("edits", "Most edits")],
        required=False,
    )
    starred = forms.BooleanField(label="Starred only", required=False)
    placeholder = "Search titles and prompts"


def initial_from_query(query, project: Project) -> dict:
    """Prefill the edit form from the query string ("use as input", "copy settings", a pasted recipe)."""
    initial: dict = {}
    query = _with_recipe(query)
    wanted = query.get("input", "")
    if wanted.isdigit():
        initial["input_clip"] = int(wanted)
    else:
        original = project.original
        initial["input_clip"] = original.pk if original else None
    for name in ("prompt", "ratio", "public_figure_threshold", "engine", "model"):
        if query.get(name):
            initial[name] = query[name][:PROMPT_MAX_CHARS]
    if query.get("seed", "").isdigit():
        initial["seed"] = int(query["seed"])
    try:
        initial["trim_start"] = max(0.0, float(query.get("trim_start", "")))
    except ValueError:
        pass
    if query.getlist("references"):
        initial["references"] = [r for r in query.getlist("references") if r.isdigit()]
    initial["keyframe_times"] = {k: v[:16] for k, v in query.items() if k.startswith("keyframe_at_")}
    return initial


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
        value = recipe.get(name)
        if value is None or query.get(name):
            continue
        if name == "keyframes":
            for keyframe in value if isinstance(value, list) else []:
                if isinstance(keyframe, dict) and str(keyframe.get("reference", "")).isdigit():
                    merged[f"keyframe_at_{keyframe['reference']}"] = str(keyframe.get("seconds", 0))
                    merged.appendlist("references", str(keyframe["reference"]))
        else:
            merged[name] = str(value)
    return merged

