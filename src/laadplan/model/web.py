"""Tables of the web app: the placement workflow's audit trail, log-in sessions, residents' requests made
through the public form, and the web app's own server secret."""

from __future__ import annotations

from . import Column as C
from . import Table, register

#: states of a plan site in the placement workflow, in order (afgewezen is a side exit)
SITE_STATES = ("voorgesteld", "akkoord_gemeente", "afgewezen", "verkeersbesluit_genomen", "in_aanleg",
               "gerealiseerd")
SITE_ACTIONS = ("state", "move")

SITE_EVENTS = Table(
    "site_events",
    "Audit trail of the placement workflow (append-only: rows are only ever inserted, never changed or "
    "deleted; each row carries the hash of the previous one so an edit breaks the chain). A plan site's "
    "state is the state of its last event, `voorgesteld` without events. `move` events give the site's new "
    "position (the position stays voorgesteld); `state` events the new state.",
    (
        C("seq", "int", "position in the trail (1, 2, ...), gap-free", nullable=False, minimum=1),
        C("event_id", "str", "random id of the event", nullable=False),
        C("created_utc", "timestamp", "when the change was made (UTC)", nullable=False),
        C("site_id", "str", "plan site (plan_sites.site_id)", nullable=False),
        C("gm_code", "str", "municipality of the site"),
        C("action", "str", "state change or move", nullable=False, allowed=SITE_ACTIONS),
        C("state", "str", "state after the event", nullable=False, allowed=SITE_STATES),
        C("reason", "str", "why (required for afgewezen and for a move)"),
        C("decision_date", "date", "date of the traffic decision (verkeersbesluit)"),
        C("objection_end_date", "date", "end of the objection period on the traffic decision"),
        C("lat", "float", "new latitude of a moved site, WGS84", "deg"),
        C("lon", "float", "new longitude of a moved site, WGS84", "deg"),
        C("evse_id", "str", "EVSE that realised the site (automatic match)"),
        C("known_evses", "str", "EVSEs (country*party*location*uid, ';'-joined) within walking distance when the "
                                "municipality agreed: the realisation match only counts EVSEs not among them"),
        C("actor", "str", "who: token id of the user, or 'system' for the automatic match", nullable=False),
        C("actor_role", "str", "role of the actor's token"),
        C("prev_hash", "str", "event_hash of the previous event ('' for the first)", nullable=False),
        C("event_hash", "str", "sha256 over prev_hash and this event's fields", nullable=False),
    ),
    primary_key=("seq",),
    family="web",
)

WEB_SESSIONS = Table(
    "web_sessions",
    "Log-in sessions of the web app. The session id lives only in the user's HttpOnly cookie; the store keeps "
    "its sha256. A session ends at `expires_utc` or at log-out, and with its token (revoked or expired).",
    (
        C("session_hash", "str", "sha256 of the session id, hex", nullable=False),
        C("token_id", "str", "API token the user logged in with (api_tokens.token_id)", nullable=False),
        C("csrf_token", "str", "per-session CSRF token every change must send back", nullable=False),
        C("created_utc", "timestamp", "log-in time (UTC)", nullable=False),
        C("expires_utc", "timestamp", "end of the session (UTC)", nullable=False),
        C("ended_utc", "timestamp", "log-out time (UTC); empty while open"),
    ),
    primary_key=("session_hash",),
    family="web",
)

WEB_REQUESTS = Table(
    "web_requests",
    "Residents' requests made through the public web form: the form's own fields beside the request in "
    "`requests` (same request_id). `client_hash` (keyed hash of the client address) serves the rate limit "
    "only. After the retention period the personal data (address, postal code, exact point) is purged.",
    (
        C("request_id", "str", "request id (requests.request_id)", nullable=False),
        C("created_utc", "timestamp", "when the form was sent (UTC)", nullable=False),
        C("client_hash", "str", "keyed sha256 of the client address (rate limit)"),
        C("ev_status", "str", "the resident's car: ev, lease_ordered, none", allowed=("ev", "lease_ordered", "none")),
        C("expected_date", "date", "expected delivery of an ordered electric (lease) car"),
        C("purged_utc", "timestamp", "when the personal data was purged (UTC)"),
    ),
    primary_key=("request_id",),
    family="web",
)

WEB_SECRETS = Table(
    "web_secrets",
    "Server secrets of the web app, made once at first use (e.g. the key of the client-address hash).",
    (
        C("name", "str", "what the secret is for", nullable=False),
        C("value", "str", "the secret, hex", nullable=False),
        C("created_utc", "timestamp", "when it was made (UTC)", nullable=False),
    ),
    primary_key=("name",),
    family="web",
)

register(SITE_EVENTS, WEB_SESSIONS, WEB_REQUESTS, WEB_SECRETS)
