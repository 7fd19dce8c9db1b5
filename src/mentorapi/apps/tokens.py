"""Member tokens: HS256 JWTs signed with the app's token secret (PyJWT does the JOSE work).

Claims, all required: `sub` (the member's external_id), `role` ("mentee", "mentor" or "both"),
`aud` (the app id), `iat` and `exp` (at most 24 hours after `iat`). `nbf` is honoured if present.
Every way a token can be wrong is an `Unauthenticated` with a detail that says which.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from mentorapi.apps.caller import Role
from mentorapi.kit import text
from mentorapi.kit.errors import Unauthenticated
from mentorapi.kit.ids import id_kind

ALGORITHM = "HS256"
MAX_TOKEN_BYTES = 4096
MAX_TTL = timedelta(hours=24)
# Clock skew tolerated between the minting server and us, for exp, iat and nbf.
LEEWAY_SECONDS = 30
REQUIRED_CLAIMS = ("sub", "role", "aud", "iat", "exp")
_ROLE_VALUES = tuple(r.value for r in Role)


def looks_like_jwt(token: str) -> bool:
    # A JWS compact serialisation starts with the base64url of '{"' (the JOSE header).
    return token.startswith("eyJ")


def mint(
    *, secret: str, app_id: str, external_id: str, role: Role, now: datetime, ttl: timedelta
) -> str:
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError("ttl must be between 0 and 24 hours")
    claims = {
        "sub": external_id,
        "role": role.value,
        "aud": app_id,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


@dataclass(frozen=True)
class Unverified:
    """What a token claims before its signature is checked: only used to find the app."""

    app_id: str
    external_id: str


def peek(token: str) -> Unverified:
    """Check the shape and read `aud` and `sub`, to look the app and member up. Nothing read
    here is trusted until `verify` has checked the signature with that app's secret."""
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthenticated(f"the token is larger than {MAX_TOKEN_BYTES} bytes")
    try:
        unverified = jwt.decode_complete(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise Unauthenticated(f"the token is malformed: {exc}") from exc
    header, claims = unverified["header"], unverified["payload"]
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise Unauthenticated(f"the token must be signed with {ALGORITHM}, not {alg!r}")
    aud, sub = claims.get("aud"), claims.get("sub")
    # Only a well-formed app id is ever looked up (the lookup that finds the secrets).
    if not isinstance(aud, str) or id_kind(aud) != "app":
        raise Unauthenticated("the token's aud claim must be your app id (one string)")
    # sub is used only once the signature verifies; its shape is checked here all the same,
    # since even an app's own server may sign text the database cannot store (kit/text.py).
    if not isinstance(sub, str) or not sub or len(sub) > 128 or not text.storable(sub):
        raise Unauthenticated("the token's sub claim must be the member's external_id")
    return Unverified(app_id=aud, external_id=sub)


def verify(token: str, *, app_id: str, secrets: Sequence[str]) -> dict[str, Any]:
    """The verified claims, trying the current secret and then, during a rotation, the
    previous one. Signature first, then the claims (PyJWT's order)."""
    last_error: jwt.PyJWTError | None = None
    for secret in secrets:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=app_id,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS), "verify_iat": True},
            )
        except jwt.InvalidSignatureError as exc:
            last_error = exc
            continue
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("the token has expired: mint a new one") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthenticated(
                f"the token is not valid yet ({exc}): check the minting server's clock"
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated(f"the token's aud must be the app id {app_id}") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(
                f"the token lacks the {exc.claim!r} claim; required: {', '.join(REQUIRED_CLAIMS)}"
            ) from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the token is invalid: {exc}") from exc
        _check_claims(claims)
        return claims
    raise bad_signature(app_id) from last_error


def bad_signature(app_id: str) -> Unauthenticated:
    return Unauthenticated(
        f"the token's signature does not verify with the token secret of app {app_id[:40]!r} "
        "(wrong secret, wrong aud, or a secret rotated out more than its grace period ago)"
    )


def _check_claims(claims: dict[str, Any]) -> None:
    iat, exp = claims["iat"], claims["exp"]
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise Unauthenticated("the token's iat and exp must be numbers (seconds since 1970)")
    if exp - iat > MAX_TTL.total_seconds():
        raise Unauthenticated(
            "the token lives longer than 24 hours (exp - iat); mint a shorter one"
        )
    if claims["role"] not in _ROLE_VALUES:
        raise Unauthenticated('the token\'s role must be "mentee", "mentor" or "both"')


def role_of(claims: dict[str, Any]) -> Role:
    return Role(claims["role"])
