"""Every alias move, kept: one registered-model tag per event (``loopml.alias_event.<n>``).

Why a tag per event on the registered model: the history must live in the MLflow store
itself, so it follows the store to PostgreSQL or a tracking server, and survives as long as
the model does. A run artifact has no run to belong to (a promotion trains nothing); one
growing JSON tag would hit MLflow's 100,000-character tag limit after a few hundred moves and
would be a read-modify-write that two writers could race on. A tag per event is one small
insert, never rewritten; its key carries a zero-padded sequence number (the order) and a
random suffix, so two writers that share no lock (a tracking server) cannot overwrite each
other. Each move runs under the registry's lock (:func:`~loopml.registry._store.exclusive`)
and :class:`EventLog` deletes the events it wrote when the move is undone, so the history
is all or nothing with the move, as the aliases and reasons are.

Versions moved before loopml recorded events still have their latest promotion reason:
:func:`legacy_events` tells that much, marked ``recorded: False``.
"""

from __future__ import annotations

import getpass
import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from loopml.registry._version import parse_created

if TYPE_CHECKING:
    from loopml.registry._mlflow import Registry
    from loopml.registry._version import ModelVersionInfo

EVENT_TAG = "loopml.alias_event."
#: Longest reason kept in an event (MLflow allows 100,000 characters per tag value).
MAX_REASON = 5000
_KEY = re.compile(r"^loopml\.alias_event\.(\d+)(?:\.\w+)?$")
#: The reason a version gets when it loses an alias (``_release._move``).
_LOST = re.compile(
    r"^was (?P<alias>\w+) until (?P<when>.+? UTC), when version (?P<by>\d+) became (?P=alias)"
)
_GOT = re.compile(r"^(?P<alias>champion|challenger): (?P<reason>.*)$", re.DOTALL)

Action = Literal["set", "removed"]


@dataclass(frozen=True)
class AliasEvent:
    """One alias move: ``alias`` was set on ``version`` (taking it from ``previous``), or
    removed from ``version`` (``previous`` is then the version that took it, if any).

    ``actor`` says what did it (``train``, ``retrain``, ``promote via CLI``, ``promote via
    UI``); ``user`` the login of the process; ``recorded`` is False for an event told from a
    version's promotion reason (a project older than the history).
    """

    seq: int
    time: float  # seconds since the epoch
    alias: str
    version: str
    action: Action
    previous: str | None
    reason: str
    actor: str
    user: str = ""
    recorded: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def text(self) -> str:
        """``version 3 became champion, replacing version 2`` or ``version 2 lost champion
        to version 3``."""
        if self.action == "set":
            took = f", replacing version {self.previous}" if self.previous else ""
            return f"version {self.version} became {self.alias}{took}"
        to = f" to version {self.previous}" if self.previous else ""
        return f"version {self.version} lost {self.alias}{to}"


@dataclass(frozen=True)
class AliasHistory:
    """A page of alias events, newest first: ``events`` from ``offset`` of ``total``."""

    events: list[AliasEvent]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "events": [{**e.to_dict(), "text": e.text} for e in self.events],
        }


class EventLog:
    """Appends alias events to the registered model's tags; :meth:`undo` deletes them again.

    The caller holds the registry's lock, so the next sequence number read here is still the
    next when it is written.
    """

    def __init__(self, registry: Registry, actor: str):
        self.registry = registry
        self.actor = actor
        self.written: list[str] = []
        self._next: int | None = None

    def append(
        self, alias: str, version: str, action: Action, previous: str | None, reason: str
    ) -> None:
        client, name = self.registry._client, self.registry.model_name
        if self._next is None:
            tags = client.get_registered_model(name).tags or {}
            self._next = max((seq for seq, _ in _numbered(tags)), default=0) + 1
        event = AliasEvent(
            seq=self._next,
            time=round(time.time(), 3),
            alias=alias,
            version=str(version),
            action=action,
            previous=None if previous is None else str(previous),
            reason=reason[:MAX_REASON],
            actor=self.actor,
            user=_user(),
        )
        key = f"{EVENT_TAG}{event.seq:08d}.{secrets.token_hex(3)}"
        body = {k: v for k, v in event.to_dict().items() if k not in ("seq", "recorded")}
        client.set_registered_model_tag(name, key, json.dumps(body, separators=(",", ":")))
        self.written.append(key)
        self._next += 1

    def undo(self) -> None:
        """Delete the events written (a failed move); raises on the first that fails."""
        client, name = self.registry._client, self.registry.model_name
        while self.written:
            client.delete_registered_model_tag(name, self.written[-1])
            self.written.pop()


def recorded_events(tags: Mapping[str, str | None]) -> list[AliasEvent]:
    """The events stored in a registered model's ``tags``, oldest first; unreadable ones
    are left out."""
    events = []
    for seq, value in _numbered(tags):
        try:
            body = json.loads(value or "")
            events.append(
                AliasEvent(
                    seq=seq,
                    time=float(body["time"]),
                    alias=str(body["alias"]),
                    version=str(body["version"]),
                    action="removed" if body.get("action") == "removed" else "set",
                    previous=None if body.get("previous") is None else str(body["previous"]),
                    reason=str(body.get("reason", "")),
                    actor=str(body.get("actor", "")),
                    user=str(body.get("user", "")),
                )
            )
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(events, key=lambda e: (e.seq, e.time))


def legacy_events(
    versions: Iterable[ModelVersionInfo], recorded: list[AliasEvent]
) -> list[AliasEvent]:
    """What the promotion reasons of versions that no recorded event names tell: the
    latest move of each (a project older than the history)."""
    named = {e.version for e in recorded} | {e.previous for e in recorded if e.previous}
    events = []
    for info in versions:
        reason = info.promotion_reason
        if info.version in named or not reason:
            continue
        created = parse_created(info.created) or 0.0
        lost, got = _LOST.match(reason), _GOT.match(reason)
        if lost:
            at = parse_created(lost["when"]) or created
            event = AliasEvent(
                0, at, lost["alias"], info.version, "removed", lost["by"], reason, ""
            )
        elif got:
            event = AliasEvent(0, created, got["alias"], info.version, "set", None, reason, "")
        else:
            continue
        events.append(replace(event, recorded=False))
    return events


def page(events: list[AliasEvent], limit: int, offset: int) -> AliasHistory:
    """``events`` newest first, ``limit`` of them from ``offset``."""
    # recorded events in the order written; those told by reasons came before any of them
    newest = sorted(events, key=lambda e: (e.recorded, e.seq, e.time), reverse=True)
    return AliasHistory(newest[offset : offset + limit], len(newest), limit, offset)


def _numbered(tags: Mapping[str, str | None]) -> list[tuple[int, str | None]]:
    found = []
    for key, value in tags.items():
        match = _KEY.match(key)
        if match:
            found.append((int(match[1]), value))
    return found


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return ""
