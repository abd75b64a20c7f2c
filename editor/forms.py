"""Forms: parse and validate what the user sent; the services do the rest."""

from __future__ import annotations

import json
import math
import secrets

from django import forms
from django.contrib.auth.forms import UserCreationForm

from editor import media
from editor.constants import MAX_BATCH, PROMPT_MAX_CHARS, RATIOS, SEED_MAX, closest_ratio
from editor.engines.remote import catalog
from editor.models import Clip, Engine, Project, Reference, Review, Status, Threshold, WatermarkPosition, keyframe_query

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
    if not all(part.isdigit() for part in ratio.split(":")):
        return 16, 16
    w, h = (int(x) for x in ratio.split(":"))
    scale = 22 / max(w, h)
    return round(w * scale), round(h * scale)


def _input_clips(project: Project):
    """The clips an edit may take as input: the original and every finished result."""
    return Clip.objects.filter(project=project, source_edit__isnull=True) | Clip.objects.filter(
        project=project, source_edit__status=Status.SUCCEEDED
    )


OUTPUT_FORMAT_CHOICES = [(name, facts[0]) for name, facts in catalog.OUTPUT_FORMATS.items()]
MODE_CHOICES = [("edit", "Edit the input in place"), ("reference", "A new video from the input"), ("extend", "Continue the input")]
# The longest prompt the form takes: each engine and model then says what it takes.
FORM_PROMPT_MAX = max([PROMPT_MAX_CHARS, *(m.prompt_max for m in catalog.MODELS.values())])


class EstimateForm(forms.Form):
    """What the cost of an edit depends on: engine, model, input, the start of the part sent and the output format."""

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
    output_format = forms.ChoiceField(label="Delivered as", choices=OUTPUT_FORMAT_CHOICES, required=False, initial="mp4")
    # A batch: several seeds, prompts (one per line) and engines or models at once.
    seed_count = forms.IntegerField(label="Seeds", min_value=1, max_value=16, required=False, initial=1)
    prompt_count = forms.IntegerField(min_value=1, max_value=64, required=False, widget=forms.HiddenInput)
    also = forms.MultipleChoiceField(label="Also run on", choices=(), required=False, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.fields["input_clip"].queryset = _input_clips(project)
        self.fields["input_clip"].label_from_instance = lambda clip: clip.label
        self.fields["engine"].choices = providers.engine_choices()
        self.fields["model"].choices = providers.model_choices()
        self.fields["also"].choices = providers.variant_choices()

    def clean_seed_count(self) -> int:
        return self.cleaned_data.get("seed_count") or 1

    def clean_also(self) -> list[tuple[str, str]]:
        """Read "engine" or "engine:model" choices as (engine, model) pairs."""
        return [tuple(v.split(":", 1)) if ":" in v else (v, "") for v in self.cleaned_data.get("also") or []]

    def clean_trim_start(self) -> float:
        return self.cleaned_data.get("trim_start") or 0.0

    def clean_output_format(self) -> str:
        return self.cleaned_data.get("output_format") or "mp4"


class EditForm(EstimateForm):
    prompt = forms.CharField(
        label="Prompt",
        max_length=FORM_PROMPT_MAX,
        required=False,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Relight this as golden hour"}),
    )
    references = forms.ModelMultipleChoiceField(
        label="Reference images", queryset=Reference.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    framing = forms.ChoiceField(label="Output shape", choices=list(catalog.FRAMINGS.items()), required=False)
    ratio = forms.ChoiceField(label="Output ratio", choices=[(r, r) for r in catalog.all_ratios()], required=False, initial="1280:720")
    seed = forms.IntegerField(
        label="Seed", min_value=0, max_value=SEED_MAX, required=False, help_text="Leave empty for a random seed."
    )
    seed_step = forms.IntegerField(
        label="Seed step", min_value=1, max_value=SEED_MAX, required=False, initial=1,
        help_text="With several seeds: the start seed, then this much more each time (random when no seed is given).",
    )
    prompt_per_line = forms.BooleanField(label="One prompt per line (a batch of prompts)", required=False)
    exact = forms.BooleanField(
        label="Exact: the same bytes on every run",
        required=False,
        help_text="Slower: the encoder uses one core. By default it uses them all, and a rerun gives the same picture.",
    )
    public_figure_threshold = forms.ChoiceField(
        label="Public figure threshold", choices=Threshold.choices, initial=Threshold.AUTO
    )
    prores_profile = forms.ChoiceField(
        label="ProRes profile", choices=[(p, p) for p in catalog.PRORES_PROFILES], required=False, initial="4444"
    )
    duration = forms.CharField(
        label="Output length (seconds)", max_length=4, required=False, help_text="Empty for the model's default; “auto” lets it choose."
    )
    resolution = forms.ChoiceField(label="Resolution", choices=[("", "The model's default"), ("768P", "768p"), ("2K", "2K")], required=False)
    audio = forms.ChoiceField(label="Sound", choices=[("on", "Generate sound"), ("off", "No sound")], required=False, initial="on")
    mode = forms.ChoiceField(label="Mode", choices=MODE_CHOICES, required=False, initial="edit")
    reference_clips = forms.ModelMultipleChoiceField(
        label="Reference videos", queryset=Clip.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    # Painted on the page and sent as a PNG file (white = remove).
    mask = forms.FileField(required=False)

    field_order = ["prompt", "input_clip", "references", "ratio", "seed", "public_figure_threshold", "engine", "model"]

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, project=project, **kwargs)
        self.fields["references"].queryset = Reference.objects.filter(project=project)
        self.fields["reference_clips"].queryset = _input_clips(project)
        self.fields["reference_clips"].label_from_instance = lambda clip: clip.label

    def clean(self):
        data = super().clean()
        engine = data.get("engine")
        data["trim_start"] = data.get("trim_start") or 0.0
        clip = data.get("input_clip")
        if clip and data["trim_start"] >= clip.duration:
            self.add_error("trim_start", f"The clip is only {clip.duration:.2f} s long.")
        data["options"] = {}
        data["keyframes"] = []
        prompts = self._prompts(data)
        if engine == Engine.LOCAL or not engine:
            data["model"] = ""
            self._clean_local(data)
        else:
            spec = catalog.MODELS.get(data.get("model") or "")
            if spec is None:
                self.add_error("model", "Choose a model for the remote engine.")
                return data
            self._clean_remote(data, spec, clip)
        data["variants"] = self._variants(data, prompts, clip) if not self.errors else []
        return data

    def _prompts(self, data) -> list[str]:
        """Return the prompts asked for: each non-empty line with "one prompt per line", else the prompt."""
        prompt = data.get("prompt") or ""
        if not data.get("prompt_per_line"):
            return [prompt]
        lines = [line.strip() for line in prompt.splitlines() if line.strip()]
        if not lines:
            return [prompt]
        # Each line is checked as a prompt of its own below.
        data["prompt"] = lines[0]
        return lines

    def _variants(self, data, prompts: list[str], clip) -> list[dict]:
        """Return every edit a batch asks for: the product of prompts, engines or models, and seeds,
        each with only the settings its model takes (where it takes fewer, its defaults)."""
        targets = [(data["engine"], data.get("model") or "")]
        targets += [t for t in data.get("also") or [] if t not in targets]
        seeds = self._seeds(data)
        count = len(prompts) * len(targets) * len(seeds)
        if count > MAX_BATCH:
            self.add_error("seed_count", f"That is {count} edits; a batch has at most {MAX_BATCH}.")
            return []
        variants = []
        for engine, model in targets:
            base = self._target_settings(data, engine, model, clip)
            if base is None:
                return []
            for prompt in prompts:
                problem = self._prompt_problem(prompt, engine, model, base)
                if problem:
                    self.add_error("prompt", problem)
                    return []
                variants += [{**base, "prompt": prompt, "seed": seed} for seed in seeds]
        return variants

    def _seeds(self, data) -> list[int]:
        count = data.get("seed_count") or 1
        if str(self.data.get("seed", "")).strip() == "":
            return [data["seed"]] + [secrets.randbelow(SEED_MAX + 1) for _ in range(count - 1)]
        step = data.get("seed_step") or 1
        return [(data["seed"] + i * step) % (SEED_MAX + 1) for i in range(count)]

    def _target_settings(self, data, engine: str, model: str, clip) -> dict | None:
        """Return the ratio, options and keyframes one engine or model of a batch gets."""
        if (engine, model) == (data["engine"], data.get("model") or ""):
            return {"engine": engine, "model": model, "ratio": data["ratio"], "options": data["options"], "keyframes": data["keyframes"]}
        if engine == Engine.LOCAL:
            # The local engine renders one of its own ratios: the chosen one, else the input's closest.
            ratio = data["ratio"] if data.get("ratio") in RATIOS else closest_ratio(clip.width, clip.height)
            return {"engine": engine, "model": "", "ratio": ratio, "options": {}, "keyframes": []}
        spec = catalog.MODELS[model]
        references = list(data.get("references") or [])
        if len(references) > max(spec.max_references, spec.max_keyframes):
            self.add_error("also", f"{spec.name} takes {max(spec.max_references, spec.max_keyframes)} reference images at most; untick some, or run it separately.")
            return None
        framing = data["options"].get("framing") if data["options"].get("framing") in spec.framings else spec.framings[0]
        ratios = spec.ratios_for(framing)
        ratio = data["ratio"] if data["ratio"] in ratios else (ratios[0] if ratios else "")
        options = {"framing": framing}
        for key in ("output_format", "prores_profile"):
            if spec.output_formats and key in data["options"]:
                options[key] = data["options"][key]
        if spec.modes:
            options["mode"] = spec.modes[0]
        if spec.takes_audio:
            options["audio"] = data.get("audio") != "off"
        keyframes = data["keyframes"] if spec.max_keyframes else []
        if spec.max_keyframes and not keyframes and references:
            # Keyframes of another model's references: pinned at the start.
            keyframes = [{"reference": r.pk, "seconds": 0.0} for r in references]
        return {"engine": engine, "model": model, "ratio": ratio, "options": options, "keyframes": keyframes}

    def _prompt_problem(self, prompt: str, engine: str, model: str, base: dict) -> str:
        """Say what is wrong with a prompt for an engine or model and its other choices ("": nothing)."""
        if engine == Engine.LOCAL:
            if not prompt:
                return "Write what the edit should do."
            return f"The local engine takes at most {PROMPT_MAX_CHARS} characters." if len(prompt) > PROMPT_MAX_CHARS else ""
        spec = catalog.MODELS[model]
        if len(prompt.encode("utf-16-le")) // 2 > spec.prompt_max:
            return f"{spec.name} takes at most {spec.prompt_max} characters."
        if prompt:
            return ""
        if base["options"].get("mode") in ("edit", "extend"):
            return f"Say what {spec.name} should do: editing or extending needs a prompt."
        if spec.prompt_required:
            return f"{spec.name} needs a prompt describing the edit."
        if not base["keyframes"] and not self.cleaned_data.get("references"):
            return f"Give {spec.name} a prompt or at least one keyframe image."
        return ""

    def _clean_local(self, data) -> None:
        problem = self._prompt_problem(data.get("prompt") or "", Engine.LOCAL, "", {})
        if problem:
            self.add_error("prompt", problem)
        if data.get("ratio") not in RATIOS:
            self.add_error("ratio", "Choose an output ratio.")

    def _clean_remote(self, data, spec: catalog.Model, clip) -> None:
        """Check every choice against what the chosen model takes, and keep only those it takes."""
        framing = data.get("framing") or spec.framings[0]
        if framing not in spec.framings:
            self.add_error("framing", f"{spec.name} cannot {catalog.FRAMINGS[framing].lower()}.")
            return
        options: dict = {"framing": framing}
        allowed = spec.ratios_for(framing)
        if allowed and data.get("ratio") not in allowed:
            self.add_error("ratio", f"Choose one of the ratios {spec.name} offers: {', '.join(allowed)}.")
        if not allowed:
            data["ratio"] = ""
        if spec.output_formats:
            options["output_format"] = data["output_format"]
            if data["output_format"] == "prores":
                options["prores_profile"] = data.get("prores_profile") or catalog.PRORES_PROFILES[0]
        elif data["output_format"] != "mp4":
            self.add_error("output_format", f"{spec.name} delivers MP4 only.")
        if spec.modes:
            options["mode"] = data.get("mode") or spec.modes[0]
        duration = self._duration(spec, (data.get("duration") or "").strip().lower())
        if duration is not None and options.get("mode") != "edit":
            options["duration"] = duration
        if data.get("resolution"):
            if data["resolution"] not in spec.resolutions:
                self.add_error("resolution", f"{spec.name} takes no resolution.")
            else:
                options["resolution"] = data["resolution"]
        if spec.takes_audio:
            options["audio"] = data.get("audio") != "off"
        options.update(self._reference_clips(data, spec, clip))
        data["options"] = options
        data["keyframes"] = self._keyframes(data, spec, clip)
        problem = self._prompt_problem(data.get("prompt") or "", data["engine"], spec.name, data)
        if problem:
            self.add_error("prompt", problem)

    def _duration(self, spec: catalog.Model, raw: str):
        if not raw:
            return None
        if spec.durations is None:
            self.add_error("duration", f"{spec.name}'s output follows the input's length.")
            return None
        if raw == "auto":
            if not spec.duration_auto:
                self.add_error("duration", f"{spec.name} needs a length in seconds.")
            return "auto"
        if not raw.isdigit() or not spec.durations[0] <= int(raw) <= spec.durations[1]:
            self.add_error("duration", f"{spec.name} makes {spec.durations[0]} to {spec.durations[1]} s of video.")
            return None
        return int(raw)

    def _reference_clips(self, data, spec: catalog.Model, clip) -> dict:
        chosen = [c for c in data.get("reference_clips") or [] if clip is None or c.pk != clip.pk]
        if not chosen:
            return {}
        if len(chosen) > spec.max_reference_videos:
            if spec.max_reference_videos == 0:
                self.add_error("reference_clips", f"{spec.name} takes no reference videos; untick them.")
            else:
                self.add_error("reference_clips", f"{spec.name} takes at most {spec.max_reference_videos} reference videos.")
            return {}
        return {"reference_clips": [c.pk for c in chosen]}

    def _keyframes(self, data, spec: catalog.Model, clip) -> list[dict]:
        """Pin each ticked reference to a time or a position for a model that takes keyframes, with
        an optional edit window; models without keyframes take a few references instead."""
        references = list(data.get("references") or [])
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
        window = min(spec.window[1], max(0.0, (clip.duration if clip else 0.0) - data["trim_start"]))
        keyframes = []
        for reference in references:
            keyframe = self._keyframe(reference, window)
            if keyframe is not None:
                keyframes.append(keyframe)
        ranged = [k for k in keyframes if "range" in k]
        if ranged and len(ranged) != len(keyframes):
            self.add_error("references", "Give every keyframe an edit window, or none of them: the model takes all or none.")
        return keyframes

    def _keyframe(self, reference, window: float) -> dict | None:
        pk = reference.pk
        name = f"“{reference}”"
        pin = self.data.get(f"keyframe_pin_{pk}", "seconds")
        try:
            value = float(self.data.get(f"keyframe_at_{pk}", ""))
        except ValueError:
            self.add_error("references", f"Give the time (in seconds) or the position (0–1) where {name} belongs in the clip.")
            return None
        if pin == "at":
            if not 0 <= value <= 1:
                self.add_error("references", f"The position of {name} must be between 0 and 1 of the part sent.")
                return None
            keyframe: dict = {"reference": pk, "at": round(value, 4)}
            time = value * window
        else:
            if not 0 <= value <= window:
                self.add_error("references", f"The keyframe time {value:g} s lies outside the part of the clip that is sent.")
                return None
            keyframe = {"reference": pk, "seconds": round(value, 3)}
            time = value
        start, end = (self.data.get(f"keyframe_{edge}_{pk}", "").strip() for edge in ("from", "to"))
        if not start and not end:
            return keyframe
        last = math.ceil(window - 1e-6)
        if not (start.isdigit() and end.isdigit()) or not 0 <= int(start) < int(end) <= last:
            self.add_error(
                "references", f"The edit window of {name} must be whole seconds from 0 to {last}, its end after its start."
            )
            return None
        if not int(start) <= time < int(end):
            self.add_error("references", f"{name} at {time:g} s lies outside its edit window {start}–{end} s (the end is not included).")
            return None
        keyframe["range"] = [int(start), int(end)]
        return keyframe

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
        """Return each reference with its keyframe pin, time and window as the form shows them."""
        source = self.data if self.is_bound else self.initial.get("keyframe_times", {})
        rows = []
        for reference in self.fields["references"].queryset.order_by("pk"):
            pk = reference.pk
            rows.append(
                {
                    "reference": reference,
                    "pin": source.get(f"keyframe_pin_{pk}", "seconds"),
                    "time": source.get(f"keyframe_at_{pk}", "0"),
                    "start": source.get(f"keyframe_from_{pk}", ""),
                    "end": source.get(f"keyframe_to_{pk}", ""),
                }
            )
        return rows


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


class PreviewForm(forms.Form):
    """What a preview on one frame needs: the local engine's settings and the player's time."""

    prompt = forms.CharField(max_length=PROMPT_MAX_CHARS)
    input_clip = forms.ModelChoiceField(queryset=Clip.objects.none())
    ratio = forms.ChoiceField(choices=[(r, r) for r in RATIOS])
    seed = forms.IntegerField(min_value=0, max_value=SEED_MAX, required=False)
    references = forms.ModelMultipleChoiceField(queryset=Reference.objects.none(), required=False)
    seconds = forms.FloatField(min_value=0, max_value=24 * 3600)
    has_mask = forms.BooleanField(required=False)

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["input_clip"].queryset = project.clips.all()
        self.fields["references"].queryset = project.references.all()


class WatermarkFields(forms.Form):
    """A link's watermark: text burned into the copies only that link serves (blank: none)."""

    watermark_text = forms.CharField(label="Watermark", max_length=60, required=False)
    watermark_position = forms.ChoiceField(
        label="Watermark position", choices=WatermarkPosition.choices, initial=WatermarkPosition.BOTTOM_RIGHT, required=False
    )
    watermark_opacity = forms.IntegerField(label="Watermark opacity (%)", min_value=5, max_value=100, initial=50, required=False)

    def clean(self):
        data = super().clean()
        data["watermark_position"] = data.get("watermark_position") or WatermarkPosition.BOTTOM_RIGHT
        if data.get("watermark_opacity") is None:
            data["watermark_opacity"] = 50
        return data


class ShareForm(WatermarkFields):
    expiry = forms.ChoiceField(label="Expires after", choices=SHARE_EXPIRY_CHOICES)
    show_original = forms.BooleanField(label="Show the original beside the result", required=False)
    password = forms.CharField(label="Password (optional)", max_length=128, required=False, strip=False, widget=forms.PasswordInput)
    allow_download = forms.BooleanField(label="Allow download", required=False, initial=True)
    allow_comments = forms.BooleanField(label="Allow comments", required=False)
    allow_approval = forms.BooleanField(label="Allow approval", required=False)


class ShareSettingsForm(WatermarkFields):
    """A link's controls, changed after it was made (an empty password keeps the current one)."""

    password = forms.CharField(label="New password", max_length=128, required=False, strip=False, widget=forms.PasswordInput)
    remove_password = forms.BooleanField(label="Remove the password", required=False)
    allow_download = forms.BooleanField(label="Allow download", required=False)
    allow_comments = forms.BooleanField(label="Allow comments", required=False)
    allow_approval = forms.BooleanField(label="Allow approval", required=False)


def form_errors(form: forms.Form) -> str:
    """A bound form's errors as one line a user reads."""
    def label(name: str) -> str:
        field = form.fields.get(name)
        return (field.label or name.replace("_", " ").capitalize()) if field is not None else ""

    return " ".join(f"{label(name)}: {e}".lstrip(": ") for name, errors in form.errors.items() for e in errors)


class GuestCommentForm(forms.Form):
    name = forms.CharField(label="Your name", max_length=60)
    email = forms.EmailField(label="Your email (to hear of replies)", required=False, max_length=254)
    body = forms.CharField(label="Comment", max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    seconds = forms.FloatField(min_value=0, widget=forms.HiddenInput, initial=0)
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput)


class HistoryFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(label="Status", choices=[("", "Any status"), *Status.choices], required=False)
    engine = forms.ChoiceField(label="Engine", choices=[("", "Any engine"), *Engine.choices], required=False)
    review = forms.ChoiceField(label="Review", choices=[("", "Any review"), *Review.choices], required=False)
    sort = forms.ChoiceField(
        label="Sort", choices=[("newest", "Newest"), ("oldest", "Oldest"), ("project", "Project")], required=False
    )
    placeholder = "Search prompts and projects"


class ProjectFilterForm(HistoryFilterForm):
    review = None
    status = forms.ChoiceField(label="Latest status", choices=[("", "Any status"), *Status.choices], required=False)
    sort = forms.ChoiceField(
        label="Sort",
        choices=[("recent", "Last activity"), ("created", "Newest"), ("title", "Title"), ("edits", "Most edits")],
        required=False,
    )
    starred = forms.BooleanField(label="Starred only", required=False)
    placeholder = "Search titles and prompts"


OPTION_FIELDS = ("framing", "output_format", "prores_profile", "duration", "resolution", "audio", "mode")


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
    for name in (
        "prompt", "ratio", "public_figure_threshold", "engine", "model", "framing", "output_format",
        "prores_profile", "duration", "resolution", "audio", "mode",
    ):
        if query.get(name):
            initial[name] = query[name][:FORM_PROMPT_MAX]
    if query.get("exact"):
        initial["exact"] = query["exact"].lower() in ("true", "on", "1")
    if initial.get("audio") in ("true", "false"):
        initial["audio"] = "on" if initial["audio"] == "true" else "off"
    if query.get("seed", "").isdigit():
        initial["seed"] = int(query["seed"])
    try:
        initial["trim_start"] = max(0.0, float(query.get("trim_start", "")))
    except ValueError:
        pass
    if query.getlist("references"):
        initial["references"] = [r for r in query.getlist("references") if r.isdigit()]
    if query.getlist("reference_clips"):
        initial["reference_clips"] = [r for r in query.getlist("reference_clips") if r.isdigit()]
    initial["keyframe_times"] = {
        k: v[:16] for k, v in query.items() if k.startswith(("keyframe_at_", "keyframe_pin_", "keyframe_from_", "keyframe_to_"))
    }
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
                if not isinstance(keyframe, dict) or not str(keyframe.get("reference", "")).isdigit():
                    continue
                try:
                    pairs = keyframe_query([keyframe])
                except (KeyError, TypeError, ValueError, IndexError):
                    continue
                for key, item in pairs:
                    merged[key] = str(item)
                merged.appendlist("references", str(keyframe["reference"]))
        elif name == "options":
            for key, option in value.items() if isinstance(value, dict) else []:
                if key == "reference_clips" and isinstance(option, list):
                    for pk in option:
                        merged.appendlist("reference_clips", str(pk))
                elif key in OPTION_FIELDS and option is not None:
                    merged[key] = str(option).lower() if isinstance(option, bool) else str(option)
        else:
            merged[name] = str(value)
    return merged

