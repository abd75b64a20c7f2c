"""`manage.py edit_clip`: run the local engine on a video file, with no database and no storage.

    python manage.py edit_clip INPUT -o OUTPUT --prompt "golden hour, slightly warmer" \\
        [--ratio 960:960] [--seed N] [--reference IMG] [--mask PNG] [--exact]

The plan the engine understood goes to stdout before any frame is touched; a progress bar goes to
stderr (redrawn in place on a terminal, one line per tenth when piped to a file). Any refusal exits
non-zero with the reason. It uses no database, storage or account.

By default the encoder uses every core, and a second run with the same seed gives the same picture;
`--exact` gives the same bytes on every run (the encoder on one thread, slower), as the recipe then
records.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from editor import media
from editor.constants import RATIOS, SEED_MAX, closest_ratio
from editor.engines import local as local_engine
from editor.engines.base import EditCancelled, EditRequest, EngineError
from editor.engines.local import source
from editor.recipe import build_recipe

MAX_REFERENCE_BYTES = 64 * 1024 * 1024


class Command(BaseCommand):
    help = "Edit a video file with the local engine: prints the plan, shows progress, writes an H.264 MP4"
    # Plain files in and out: the URL and database checks would only slow the start.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("input", type=Path, help="The clip to edit")
        parser.add_argument("-o", "--output", type=Path, required=True, help="Where to write the result (.mp4)")
        parser.add_argument("--prompt", required=True, help="What to do, in words")
        parser.add_argument("--ratio", choices=RATIOS, help="Output size; default: the ratio closest to the input's")
        parser.add_argument("--seed", type=int, help=f"0..{SEED_MAX}; default: random (and printed)")
        parser.add_argument(
            "--reference", type=Path, action="append", default=[], help="Reference image (PNG, JPEG or WebP)"
        )
        parser.add_argument("--mask", type=Path, help="PNG mask, white over what should be removed")
        parser.add_argument(
            "--exact", action="store_true", help="The same bytes on every run (slower: the encoder uses one core)"
        )

    def handle(self, *args, input: Path, output: Path, prompt: str, ratio, seed, reference, mask, exact, **options):
        info = _probe_input(input)
        output = _check_output(input, output)
        ratio = ratio or closest_ratio(info.width, info.height)
        seed_note = ""
        if seed is None:
            seed, seed_note = secrets.randbelow(SEED_MAX + 1), " (random)"
        elif not 0 <= seed <= SEED_MAX:
            raise CommandError(f"The seed must be between 0 and {SEED_MAX}.")
        references = tuple(_check_reference(path) for path in reference)
        mask_path = _check_mask(mask) if mask is not None else None
        try:
            summary, _ = local_engine.describe(
                prompt, ratio=ratio, seed=seed, has_reference=bool(references), has_mask=mask_path is not None
            )
        except EngineError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            f"Input: {input} ({info.width}x{info.height}, {info.duration:.2f} s, {info.fps:g} fps, "
            f"{'audio' if info.has_audio else 'no audio'})"
        )
        self.stdout.write(f"Ratio: {ratio}   Seed: {seed}{seed_note}{'   Exact: the same bytes on every run' if exact else ''}")
        self.stdout.write(f"Plan: {summary}")
        request = EditRequest(
            input_path=input,
            output_path=output,
            prompt=prompt,
            ratio=ratio,
            seed=seed,
            references=references,
            mask_path=mask_path,
            exact=exact,
            recipe=build_recipe(
                prompt=prompt,
                seed=seed,
                engine="local",
                model="",
                ratio=ratio,
                public_figure_threshold="auto",
                input_sha256=media.file_sha256(input),
                exact=exact,
            ),
        )
        bar = ProgressBar(self.stderr)
        started = time.monotonic()
        try:
            result = local_engine.run(request, bar.update)
        except (EngineError, media.MediaError) as exc:
            bar.abandon()
            raise CommandError(f"The edit failed: {exc.message}") from None
        except (KeyboardInterrupt, EditCancelled):
            bar.abandon()
            raise CommandError("Cancelled; nothing was written.", returncode=130) from None
        bar.finish()
        elapsed = time.monotonic() - started
        made = media.probe(output, check_tail=False)
        self.stdout.write(f"Done: {result.summary}")
        for note in result.notes:
            self.stdout.write(f"Note: {note}")
        self.stdout.write(
            f"Wrote {output} ({made.width}x{made.height}, {made.duration:.2f} s, {made.frame_count} frames) "
            f"in {elapsed:.2f} s"
        )


class ProgressBar:
    """A text progress bar: redrawn in place on a terminal, one line per tenth otherwise."""

    WIDTH = 30

    def __init__(self, stream: OutputWrapper):
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.shown = -1
        self.drawn = False

    def update(self, fraction: float) -> None:
        """Show a fraction 0..1 of the work done, redrawing only when the shown value changes."""
        fraction = min(1.0, max(0.0, fraction))
        percent = int(fraction * 100)
        if self.tty:
            if percent != self.shown:
                self.shown = percent
                self._write("\r" + self._line(fraction))
        else:
            tenth = percent // 10 * 10
            if tenth > self.shown:
                self.shown = tenth
                self._write(self._line(tenth / 100) + "\n")

    def finish(self) -> None:
        """Draw the bar full and end its line."""
        self.update(1.0)
        if self.tty:
            self._write("\n")

    def abandon(self) -> None:
        """End a half-drawn bar's line, so an error message starts on a line of its own."""
        if self.tty and self.drawn:
            self._write("\n")

    def _line(self, fraction: float) -> str:
        filled = int(round(fraction * self.WIDTH))
        elapsed = time.monotonic() - self.started
        return f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:4.0%}  {elapsed:5.1f} s"

    def _write(self, text: str) -> None:
        self.drawn = True
        self.stream.write(text, style_func=lambda s: s, ending="")
        self.stream.flush()


def _probe_input(path: Path) -> media.ClipInfo:
    if not path.is_file():
        raise CommandError(f"The input {path} does not exist or is not a file.")
    try:
        info = media.probe(path, check_tail=False)
        # The engine's index pass reads every packet (no decoding), which is how it finds a file
        # cut short; running it here refuses such a file before the plan is printed.
        source.index(path)
    except (media.MediaError, EngineError) as exc:
        raise CommandError(f"The input {path} was refused: {exc.message}") from None
    return info


def _check_output(source: Path, output: Path) -> Path:
    if output.suffix.lower() != ".mp4":
        raise CommandError("The output is an H.264 MP4: give it a .mp4 name.")
    if output.exists() and output.resolve() == source.resolve():
        raise CommandError("The output would overwrite the input; choose another name.")
    if not output.parent.is_dir():
        raise CommandError(f"The output folder {output.parent} does not exist.")
    return output


def _check_reference(path: Path) -> Path:
    if not path.is_file():
        raise CommandError(f"The reference image {path} does not exist or is not a file.")
    try:
        media.validate_image(path, max_bytes=MAX_REFERENCE_BYTES)
    except media.MediaError as exc:
        raise CommandError(f"The reference image {path} was refused: {exc.message}") from None
    return path


def _check_mask(path: Path) -> Path:
    """Check that a mask is a PNG with something painted on it (white = remove)."""
    if not path.is_file():
        raise CommandError(f"The mask {path} does not exist or is not a file.")
    try:
        media.read_mask(path)
    except media.MediaError as exc:
        raise CommandError(exc.message) from None
    return path
