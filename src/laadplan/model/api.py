"""Tables of the regional server: API tokens (roles and scopes)."""

from __future__ import annotations

from . import Column as C
from . import Table, register

ROLES = ("region", "gemeente", "operator", "netbeheerder")

API_TOKENS = Table(
    "api_tokens",
    "Tokens of the server's users. The secret is shown once at creation and stored only as a scrypt hash; "
    "a token is valid until `expires_utc` unless revoked. The scope follows the role: `gemeente` is limited to "
    "`gm_code`, `operator` to its `country_code`/`party_id`.",
    (
        C("token_id", "str", "public id of the token (the first part of the secret)", nullable=False),
        C("role", "str", "what the token may do", nullable=False, allowed=ROLES),
        C("gm_code", "str", "municipality of a `gemeente` token"),
        C("country_code", "str", "OCPI country_code of an `operator` token"),
        C("party_id", "str", "OCPI party_id of an `operator` token"),
        C("label", "str", "who or what the token is for (free text)"),
        C("secret_hash", "str", "scrypt hash of the secret, hex", nullable=False),
        C("salt", "str", "scrypt salt, hex", nullable=False),
        C("created_utc", "timestamp", "when the token was made (UTC)", nullable=False),
        C("expires_utc", "timestamp", "when the token stops working (UTC)", nullable=False),
        C("revoked_utc", "timestamp", "when the token was revoked (UTC); empty while valid"),
    ),
    primary_key=("token_id",),
    family="api",
)

register(API_TOKENS)
