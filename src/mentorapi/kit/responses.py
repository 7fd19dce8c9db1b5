"""JSON responses serialized once, in pydantic-core.

A route that returns a model lets FastAPI validate it again against the response model, turn it
into Python data and then into JSON: three passes over every object of a page. A hot route
returns `data_response(...)` instead (one pass, straight to bytes) and declares
`response_model=` in its decorator, so the OpenAPI document is the same.
"""

from typing import Any

from fastapi import Response
from pydantic_core import to_json


def data_response(data: Any, *, status_code: int = 200) -> Response:
    """Plain data (dicts, lists, datetimes...) written as JSON by pydantic-core, the same
    writer that serializes models, without validating it first: for the hottest lists, whose
    data is built field by field for a response model (a test per route holds the two
    together: the body re-validated and re-serialized by the model must come out the same)."""
    return Response(to_json(data), status_code=status_code, media_type="application/json")
