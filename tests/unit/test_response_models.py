"""The response models are the bodies the code builds: each helper's real answer validates
strictly against the model of its status."""

import uuid
from collections.abc import Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from pydantic import BaseModel, ValidationError

from chatledger.api.ratelimit import too_many
from chatledger.api.response_models import (
    FAILURES,
    Accepted,
    BadParams,
    Failure,
    Forbidden,
    Health,
    InsufficientFunds,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    Readiness,
    Silenced,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)
from chatledger.web import responses
from chatledger.web.observe import error_response
from chatledger.web.probes import healthz, lag_verdict, run_check


def body_of(response: web.StreamResponse) -> bytes:
    assert isinstance(response, web.Response) and isinstance(response.body, bytes)
    return response.body


def conforms(response: web.StreamResponse, model: type[BaseModel], status: int) -> None:
    assert response.status == status
    assert response.content_type == "application/json"
    model.model_validate_json(body_of(response), strict=True)


def test_an_accepted_command() -> None:
    conforms(responses.accepted(str(uuid.uuid4())), Accepted, 201)


@pytest.mark.parametrize(
    ("answer", "model"),
    [
        (lambda: responses.bad_params(["sum: must be greater than 0"]), BadParams),
        (responses.unauthorized, Unauthorized),
        (responses.insufficient_funds, InsufficientFunds),
        (lambda: responses.forbidden("only clients donate"), Forbidden),
        (lambda: responses.silenced("muted"), Silenced),
        (lambda: responses.silenced("banned"), Silenced),
        (lambda: too_many(0.25), TooManyRequests),
        (responses.unavailable, Unavailable),
    ],
)
def test_each_failure_helper_answers_its_model(
    answer: Callable[[], web.Response], model: type[Failure]
) -> None:
    response = answer()
    conforms(response, model, model.status)
    assert ("Retry-After" in response.headers) is model.retry_after


@pytest.mark.parametrize(
    ("exc", "model"),
    [
        (web.HTTPRequestEntityTooLarge(max_size=10, actual_size=20), PayloadTooLarge),
        (web.HTTPMethodNotAllowed("GET", ["POST"]), MethodNotAllowed),
        (web.HTTPNotFound(), NotFound),
    ],
)
def test_the_errors_aiohttp_raises_are_answered_as_the_models(
    exc: web.HTTPException, model: type[Failure]
) -> None:
    response = error_response(exc)
    assert response is not None
    conforms(response, model, model.status)
    assert error_response(web.HTTPBadRequest()) is None  # any other is aiohttp's own


def test_every_failure_model_has_its_own_status() -> None:
    statuses = [model.status for model in FAILURES]
    assert len(set(statuses)) == len(statuses)


def test_a_body_off_the_contract_is_refused() -> None:
    for body in (
        b'{"success": false, "message": "anauthorized"}',  # the brief's "false" is a string
        b'{"success": "false", "message": "unauthorized"}',  # and its typo is the contract
        b'{"success": "false", "message": "anauthorized", "errors": ["x"]}',
    ):
        with pytest.raises(ValidationError):
            Unauthorized.model_validate_json(body, strict=True)


async def test_health_and_readiness_bodies() -> None:
    conforms(await healthz(make_mocked_request("GET", "/healthz")), Health, 200)

    async def fine() -> dict[str, object]:
        return {"brokers": 1}

    async def down() -> dict[str, object]:
        raise ConnectionRefusedError("connection refused")

    async def lagging() -> dict[str, object]:
        return lag_verdict(20, threshold=10)

    checks = {
        "mysql": await run_check(fine),
        "redis": await run_check(down),
        "kafka": await run_check(fine),
        "ledger_lag": await run_check(lagging),
    }
    Readiness.model_validate({"status": "not ready", "checks": checks}, strict=True)
    with pytest.raises(ValidationError):
        Readiness.model_validate({"status": "ready", "checks": {"mysql": checks["mysql"]}})
