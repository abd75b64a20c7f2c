"""Engines: pure edit runners. Dataclasses in, dataclasses out; no ORM, no request."""
