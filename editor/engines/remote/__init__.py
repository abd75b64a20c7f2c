"""The remote engines: Runway's video-to-video API and CometAPI's Runway passthrough.

Pure: no ORM, no request, no Django import. Settings come in through `config.RemoteConfig`.

- `catalog`: the one table of providers and models (limits, windows, prices, what each supports).
- `config`: where a provider is and how to reach it; the address checks the settings also run.
- `body`: request bodies, checked field by field before anything is sent.
- `client`: `RemoteClient`, one per job; `poll_delay`.
- `parse`: tasks, error bodies and Retry-After as the providers send them.
- `errors`: `RemoteError`, the one error type, whose `kind` is an `ErrorKind`.
- `failures`: what a failed task's code means to a user.
- `prepare`: the clip and images the way the API wants them, and the cost estimate.

How the edit state machine uses it (one `RemoteClient` per job; close it, or use it as a context manager):

1. Prepare the input with `prepare` (trimmed, reframed, H.264, data URI or upload).
   For `uri_kind == "upload"` call `upload_ephemeral()` to get a `runway://` URI (Runway only).
2. `body.build_body(...)` validates every field locally; a violation raises `RemoteError(kind="bad_request")`
   before anything is sent or billed.
3. Save the edit as submitting, then `create_video_to_video(body)` and save the returned task id at once.
   The create is retried here only when nothing reached the provider (connection refused, connect
   timeout) or on a 429 with a short Retry-After. `kind == "unknown_outcome"` means the task may exist
   and be billed: move the edit to needs_attention and never POST again without the user.
4. Poll with a deferred task (`run_after = poll_delay(polls)`: 5 s or more, jittered): `get_task(task_id)`
   returns a `RemoteTask`.
   Transient read errors are retried inside the call with capped backoff; when they persist it raises
   `kind == "unavailable"` (retryable): re-enqueue the poll later. PENDING and THROTTLED are queueing,
   RUNNING carries `progress` (0..1 or None).
5. On SUCCEEDED: `download_output(task.outputs[0], path)` into storage, probe it, then mark the edit
   succeeded. `kind == "output_expired"` means the signed URL died: call `get_task()` again for fresh
   URLs. Never `cancel_task()` a succeeded task before its output is stored (DELETE destroys it).
6. On FAILED: `failures.describe_failure(task.failure_code, task.failure)` gives the plain message and whether a
   (new, billed) retry may be offered. A retry is never automatic.

Every error is a `RemoteError` (an `EngineError`) with `kind`, `retryable`, `retry_after`, `code` and a
message a user can read. The API key never appears in a message, a repr or a log record.
"""
