"""Identifiers as they arrive from outside: a uuid in its canonical form, or a reason."""

import uuid


def parse_uuid(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a uuid string")
    try:
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise ValueError("must be a uuid") from exc
