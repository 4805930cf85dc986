"""Moving aliases and publishing a new version, each all or nothing.

:func:`move_alias` points ``champion`` or ``challenger`` at a version and records why, on the
version and on the one that held the alias before. :class:`Publication` is what makes a newly
registered version public (its alias and its HTML report); :meth:`Registry.register` runs it
in the same step as the registration and, if any part fails, undoes every part.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from loopml.errors import ModelNotFoundError
from loopml.files import write_text_atomic
from loopml.registry._history import EventLog
from loopml.registry._version import ALIASES, REASON_TAG, version_tags

if TYPE_CHECKING:
    from loopml.registry._mlflow import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Release:
    """What to do with a new version as part of registering it.

    The version gets ``alias`` with ``reason`` as its promotion reason, and ``report`` (HTML)
    is written to ``report_dir`` as ``<model>-v<version>.html`` and tagged on the version.
    """

    alias: str  # champion | challenger
    reason: str
    report: str
    report_dir: Path
    #: The champion the decision was made against (None: there was none). If another version
    #: became champion while this one trained, this one was not compared with it: it is
    #: published as challenger instead. :data:`UNCHECKED`: publish as ``alias`` regardless.
    champion_seen: str | None = "*"
    #: What registers it, for the alias history: ``train`` or ``retrain``.
    actor: str = "train"


UNCHECKED = "*"


class AliasSnapshot:
    """Which version holds each alias, and the promotion reasons of those versions, so a
    failed change can put them back exactly; ``events`` logs the change's alias events, and
    :meth:`restore` deletes them again."""

    def __init__(self, registry: Registry, actor: str):
        self.registry = registry
        self.events = EventLog(registry, actor)
        self.holders: dict[str, str | None] = {alias: _holder(registry, alias) for alias in ALIASES}
        self.reasons: dict[str, str | None] = {
            version: registry.version_info(version).tags.get(REASON_TAG)
            for version in set(self.holders.values())
            if version is not None
        }

    def restore(self) -> None:
        """Point every alias where it pointed and restore the reasons; best effort, so one
        step that fails does not keep the others from running."""
        registry = self.registry
        client, name = registry._client, registry.model_name
        with _logged("removing the alias events written"):
            self.events.undo()
        for alias, version in self.holders.items():
            with _logged(f"restoring alias {alias}"):
                if version is None:
                    if _holder(registry, alias) is not None:
                        client.delete_registered_model_alias(name, alias)
                else:
                    client.set_registered_model_alias(name, alias, version)
        for version, reason in self.reasons.items():
            with _logged(f"restoring the promotion reason of version {version}"):
                if reason is None:
                    client.delete_model_version_tag(name, version, REASON_TAG)
                else:
                    client.set_model_version_tag(name, version, REASON_TAG, reason)


def move_alias(
    registry: Registry, version: str, alias: str, reason: str, *, actor: str = "promote"
) -> None:
    """Point ``alias`` at ``version`` and record why; the version that held it says it lost
    it, so ``models show`` never gives a stale reason, and the alias history gets an event
    per change (``actor`` did it). A champion gives up its challenger alias. If any step
    fails, aliases, reasons and history are as they were and the error is raised.
    """
    snapshot = AliasSnapshot(registry, actor)
    try:
        _move(snapshot, version, alias, reason)
    except BaseException:
        snapshot.restore()
        raise


def _move(snapshot: AliasSnapshot, version: str, alias: str, reason: str) -> None:
    registry, events = snapshot.registry, snapshot.events
    before = snapshot.holders[alias]
    was_challenger = alias == "champion" and snapshot.holders["challenger"] == version
    registry.set_alias(version, alias)
    previous = before if before not in (None, version) else None
    events.append(alias, version, "set", previous, reason)
    if previous is not None:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        registry.set_tags(
            previous,
            version_tags(
                promotion_reason=f"was {alias} until {now}, when version {version} became {alias}"
            ),
        )
        events.append(alias, previous, "removed", version, f"version {version} became {alias}")
    if was_challenger:
        events.append("challenger", version, "removed", None, "it became champion")
    previously = f"version {previous}" if previous is not None else "none"
    registry.set_tags(
        version,
        version_tags(promotion_reason=f"{alias}: {reason} (previous {alias}: {previously})"),
    )


class Publication:
    """Publishing a registered version: its alias, its report file, the report's tag.

    :meth:`apply` does the steps in order and remembers what it changed; :meth:`undo` puts
    back the aliases, their reasons and the reports directory as they were. ``step`` names
    the step running (or that failed), for the error message.
    """

    def __init__(self, registry: Registry, version: str, release: Release):
        self.registry = registry
        self.version = version
        self.release = release
        self.report = release.report_dir / f"{registry.model_name}-v{version}.html"
        self.step = "reading the aliases"
        self._snapshot: AliasSnapshot | None = None
        self._report_dir_existed = release.report_dir.is_dir()
        self._report_before: bytes | None = (
            self.report.read_bytes() if self.report.is_file() else None
        )

    def apply(self) -> None:
        """Publish; the caller holds the registry's lock (:func:`~loopml.registry._store.
        exclusive`), so the aliases read here are still the aliases when they move."""
        self._snapshot = AliasSnapshot(self.registry, self.release.actor)
        release = self.release = _still_valid(self.release, self._snapshot, self.version)
        self.step = f"setting the alias {release.alias}"
        _move(self._snapshot, self.version, release.alias, release.reason)
        self.step = f"writing the report {self.report}"
        write_text_atomic(self.report, release.report)
        self.step = "tagging the report on the version"
        self.registry.set_tags(self.version, version_tags(report=str(self.report)))

    def undo(self) -> None:
        if self._snapshot is not None:
            self._snapshot.restore()
        with _logged(f"removing the report {self.report}"):
            if self._report_before is not None:
                self.report.write_bytes(self._report_before)
            else:
                self.report.unlink(missing_ok=True)
                report_dir = self.release.report_dir
                if not self._report_dir_existed and report_dir.is_dir():
                    with contextlib.suppress(OSError):  # not empty: something else wrote there
                        report_dir.rmdir()


def _still_valid(release: Release, snapshot: AliasSnapshot, version: str) -> Release:
    """``release``, or a challenger release when the champion changed since the decision."""
    holder = snapshot.holders["champion"]
    if (
        release.alias != "champion"
        or release.champion_seen == UNCHECKED
        or holder == release.champion_seen
    ):
        return release
    seen = f"version {release.champion_seen}" if release.champion_seen else "no champion"
    reason = (
        f"it was to become champion ({release.reason}; compared with {seen}), but version "
        f"{holder} became champion while it trained, and the two were not compared. Compare "
        f"them with `loopml evaluate --model VERSION`; promote with `loopml models promote "
        f"{version}`"
    )
    log.warning("version %s is challenger, not champion: %s", version, reason)
    return replace(release, alias="challenger", reason=reason)


def _holder(registry: Registry, alias: str) -> str | None:
    try:
        return registry.resolve(alias)
    except ModelNotFoundError:
        return None


@contextlib.contextmanager
def _logged(what: str) -> Iterator[None]:
    """Run one undo step; a failure is logged and the next step still runs."""
    try:
        yield
    except Exception as exc:
        log.warning("%s failed while undoing a registration: %s", what, exc)
