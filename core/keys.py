"""Every Redis key is built here from a named prefix, so key shapes and lifetimes are in one place."""

from __future__ import annotations

from enum import StrEnum

NAMESPACE = "yc"


class Prefix(StrEnum):
    """Named key prefixes. The comment says what the key holds and how long it lives."""

    SESSION = "session"  # JSON chat session of one user; idle TTL (settings.session_ttl_seconds)
    DEDUPE = "dedupe"  # result of one processed message id; TTL settings.dedupe_ttl_seconds
    # Until when (Unix seconds) a retry of one of the user's messages may find no dedupe entry although the message
    # was logged, so that the SQL turn log must be asked (bot/turn_state.py); TTL settings.dedupe_ttl_seconds
    DEDUPE_HORIZON = "dedupe-horizon"
    # The buttons of the newest message pushed to a user that offered any (a rating after a handoff), as JSON: the
    # user's next turn reads and removes it, so "2" or "满意" typed next chooses from them; TTL session_ttl_seconds
    PUSHED_MENU = "menu:pushed"
    USER_LOCK = "lock:user"  # per-user turn lock; expires after settings.user_lock_seconds
    USER_EVENTS = "events:user"  # pub/sub channel: something was pushed to this user
    KB_EVENTS = "events:kb"  # pub/sub channel: the knowledge base changed, every worker rebuilds
    KB_SEED_LOCK = "lock:kb-seed"  # held while one worker seeds an empty knowledge base; expires after 120 s
    RATE = "rate"  # fixed-window counter of one limit and subject (core/ratelimit.py); expires with its window
    STAFF_SESSION = "staff:session"  # staff login {staff_id, csrf} by SHA-256 of its cookie; TTL staff_session_hours
    CASE_FILING = "lock:case-filing"  # held while one complaint (by fingerprint) is checked and filed; 10 s
    SLA_LEADER = "lock:sla-leader"  # the SLA monitor's leader lock across workers; renewed every round
    SLOT_LOCK = "lock:slot"  # held while one appointment slot (window, day, half) is counted and booked; 10 s
    QUEUE = "queue"  # sorted set of waiting ticket ids per window, score = queued time; rebuilt from SQL
    USER_TICKET = "ticket:user"  # a user's open ticket id, or "none" for a while; rebuilt from SQL when missing
    PRESENCE = "presence"  # a staff console's heartbeat: JSON list of windows; expires after 90 s
    WINDOW_PRESENCE = "online"  # sorted set per window: staff with a console open there, score = heartbeat expiry
    STAFF_EVENTS = "events:staff"  # pub/sub channel: a case or ticket changed, for the staff console
    WECHAT_TOKEN = "wechat:token"  # WeChat API access token per AppID; expires 5 min before WeChat's expiry
    WECHAT_TOKEN_LOCK = "lock:wechat-token"  # held while one worker fetches a new access token; 30 s
    WECHAT_DELIVERY = "wechat:delivery"  # how a WeChat message's reply goes out: passive|push; TTL dedupe_ttl_seconds


def key(prefix: Prefix, *parts: str | int) -> str:
    """Build a key such as `yc:session:web:abc` from a prefix and its parts."""
    return ":".join([NAMESPACE, prefix.value, *(str(p) for p in parts)])
