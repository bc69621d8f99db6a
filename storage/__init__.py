"""The session log on SQLite: one batched writer per session, readers for
replay, export and the sessions list. Depends on ``core`` only for events."""

from storage.paths import default_db_path
from storage.reader import (
    EventRow, SessionSummary, UnknownSession, artifact, fills_by_seq, iter_events,
    list_sessions, logged_setup, orders_by_seq, resolve_session, session_meta, session_summary,
)
from storage.schema import SCHEMA_VERSION, StorageError, open_db
from storage.writer import LogWriter

__all__ = [
    "SCHEMA_VERSION", "EventRow", "artifact", "LogWriter", "SessionSummary", "StorageError",
    "UnknownSession", "default_db_path", "fills_by_seq", "iter_events",
    "list_sessions", "logged_setup", "open_db", "orders_by_seq", "resolve_session", "session_meta",
    "session_summary",
]
