"""What a service refuses with; the API turns each into its HTTP status (api/app.py)."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400


class NotFound(ServiceError):
    status = 404


class Taken(ServiceError):
    """A name that must be unique is used already, or a state forbids the change."""

    status = 409


class Invalid(ServiceError):
    status = 422


class Forbidden(ServiceError):
    """A valid key asking for what is not its own."""

    status = 403
