"""The store under the registry (loopml.registry._store): passwords never shown, one
publication at a time, and a champion decided against a stale champion held back."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking._model_registry import utils as registry_uri_state
from mlflow.tracking._tracking_service import utils as tracking_uri_state

from loopml.errors import RegistryError
from loopml.registry import ModelBundle, Registry, Release
from loopml.registry._store import exclusive, open_client, scrub, shown_uri


@pytest.fixture(autouse=True)
def _isolated_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registry.register sets MLflow's process-wide URIs; put them back after each test."""
    monkeypatch.setattr(tracking_uri_state, "_tracking_uri", tracking_uri_state._tracking_uri)
    monkeypatch.setattr(registry_uri_state, "_registry_uri", registry_uri_state._registry_uri)
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(var, raising=False)


def test_every_spelling_of_the_password_is_scrubbed() -> None:
    uri = "postgresql+psycopg://ml:p%40ss%3Aw%2Fd@db.internal:5432/mlflow"
    assert shown_uri(uri) == "postgresql+psycopg://ml:***@db.internal:5432/mlflow"
    text = f"failed on {uri}: password p@ss:w/d, quoted p%40ss%3Aw%2Fd, plus p%40ss%3Aw%2Fd"
    assert scrub(text, uri) == (
        "failed on postgresql+psycopg://ml:***@db.internal:5432/mlflow: password ***, "
        "quoted ***, plus ***"
    )
    assert scrub("nothing secret", "sqlite:////tmp/x.db") == "nothing secret"


def test_an_unreachable_store_is_named_without_its_password() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"postgresql://ml:top%2Fsecret@127.0.0.1:{port}/mlflow"
    shown = r"cannot open the MLflow store postgresql://ml:\*\*\*@127.0.0.1"
    with pytest.raises(RegistryError, match=shown) as caught:
        open_client(uri)
    assert "top" not in str(caught.value) and "secret" not in str(caught.value)


def test_one_holder_at_a_time_per_name(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    events: list[str] = []
    waiting = threading.Event()

    def second() -> None:
        waiting.set()
        with exclusive(uri, "churn"):
            events.append("second in")

    with exclusive(uri, "churn"):
        events.append("first in")
        thread = threading.Thread(target=second)
        thread.start()
        waiting.wait()
        with exclusive(uri, "another model"):  # other names are independent
            events.append("other name in")
        events.append("first out")
    thread.join()
    assert events == ["first in", "other name in", "first out", "second in"]


def _registry(directory: Path) -> Registry:
    return Registry(f"sqlite:///{directory}/mlflow.db", "exp", "churn", directory / "artifacts")


def _register(registry: Registry, bundle: ModelBundle, release: Release) -> str:
    info = registry.register(bundle, params={}, metrics={}, artifacts={}, tags={}, release=release)
    return info.version


def test_a_champion_decided_against_a_stale_champion_is_published_as_challenger(
    tmp_path: Path, make_bundle: Callable[..., ModelBundle]
) -> None:
    registry = _registry(tmp_path)
    bundle = make_bundle()
    reports = tmp_path / "reports"

    def release(reason: str, seen: str | None) -> Release:
        return Release("champion", reason, "<p></p>", reports, champion_seen=seen)

    assert _register(registry, bundle, release("first", None)) == "1"
    # trained while version 1 was being published: it compared with no champion
    assert _register(registry, bundle, release("no champion yet", None)) == "2"
    # trained after: it compared with version 1
    assert _register(registry, bundle, release("beats version 1", "1")) == "3"

    versions = {v.version: v for v in registry.versions()}
    assert versions["1"].aliases == ()
    assert versions["2"].aliases == ("challenger",)
    assert versions["3"].aliases == ("champion",)
    assert versions["2"].promotion_reason.startswith(
        "challenger: it was to become champion (no champion yet; compared with no champion), "
        "but version 1 became champion while it trained"
    )
    assert "`loopml models promote 2`" in versions["2"].promotion_reason
    assert versions["3"].promotion_reason == (
        "champion: beats version 1 (previous champion: version 1)"
    )
