"""The online comparison through the test client (loopml.serving._variants): the A/B split
and its stickiness, shadow predictions logged with their labels, the champion alone when
there is no challenger, and the challenger alias followed like the champion's."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from test_app import BundleSource, _bundle, _row, _settings

from loopml.config import parse_config
from loopml.errors import ConfigError
from loopml.registry import ModelBundle
from loopml.serving._contract import Predictions
from loopml.serving._holder import LoadedModel
from loopml.serving._predlog import PredictionLog
from loopml.serving._variants import ShadowRunner, split_point
from loopml.serving.app import create_app, service_settings


@pytest.fixture(scope="module")
def bundles() -> dict[str, ModelBundle]:
    return {"1": _bundle(flip=False), "2": _bundle(flip=True)}


@pytest.fixture
def source(bundles: dict[str, ModelBundle]) -> BundleSource:
    src = BundleSource(bundles)
    src.aliases["challenger"] = "2"
    return src


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[PredictionLog]:
    with PredictionLog(f"sqlite:///{tmp_path}/predictions.db", flush_seconds=0.05) as log:
        yield log


def _client(source: Any, sink: PredictionLog | None, **kw: Any) -> TestClient:
    return TestClient(create_app(_settings(**kw), source, sink=sink))


def _predict(client: TestClient, rid: str, **row: Any) -> dict[str, Any]:
    r = client.post("/v1/predict", json={"instances": [_row(**row)]}, headers={"X-Request-ID": rid})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _logged(sink: PredictionLog, variant: str | None = None) -> list[Any]:
    """What the log holds (the app closed ``sink`` at shutdown: read it anew)."""
    sink.flush()
    with PredictionLog(sink.url, mode="sync") as plog:
        return plog.read(0, time.time() + 1, variant=variant)


# ---------------------------------------------------------------------------- A/B


def test_ab_sends_the_fraction_of_requests_to_the_challenger(
    source: BundleSource, sink: PredictionLog
) -> None:
    ids = [f"req-{i}" for i in range(400)]
    with _client(source, sink, challenger_mode="ab", challenger_fraction=0.25) as client:
        answers = {rid: _predict(client, rid) for rid in ids}

    expected = {rid for rid in ids if split_point(rid) < 0.25}
    chosen = {rid for rid, a in answers.items() if a["variant"] == "challenger"}
    assert chosen == expected  # the split is the hash: the same in every worker
    assert 0.18 <= len(chosen) / len(ids) <= 0.32
    for rid, a in answers.items():
        assert a["model_version"] == ("2" if rid in chosen else "1")
    logged = {row.request_id: row for row in _logged(sink)}
    assert {rid for rid, row in logged.items() if row.variant == "challenger"} == chosen
    assert {row.model_version for row in logged.values() if row.variant == "challenger"} == {"2"}
    assert {row.model_version for row in logged.values() if row.variant == "champion"} == {"1"}


def test_ab_with_a_sticky_column_keeps_an_entity_on_one_variant(
    source: BundleSource, sink: PredictionLog
) -> None:
    settings = {"challenger_mode": "ab", "challenger_fraction": 0.5}
    with _client(source, sink, **settings, challenger_sticky_column="customer_id") as client:
        seen: dict[int, set[str]] = {}
        for i in range(120):
            customer = i % 20
            answer = _predict(client, f"r{i}", customer_id=customer, age=20.0 + i % 50)
            seen.setdefault(customer, set()).add(answer["variant"])
        # a request without the column goes by its id
        assert _predict(client, "no-customer", customer_id=None)["variant"] in (
            "champion",
            "challenger",
        )

    assert all(len(variants) == 1 for variants in seen.values())
    both = {v for variants in seen.values() for v in variants}
    assert both == {"champion", "challenger"}
    # 7, 7.0 and "7" are one customer
    assert split_point("7") == split_point(str(7))


def test_metrics_count_predictions_per_variant(source: BundleSource, sink: PredictionLog) -> None:
    with _client(source, sink, challenger_mode="ab", challenger_fraction=0.5) as client:
        answers = [_predict(client, f"m{i}") for i in range(40)]
        text = client.get("/metrics").text
    to_challenger = sum(a["variant"] == "challenger" for a in answers)
    assert (
        f'loopml_predictions_total{{model_version="2",variant="challenger"}} {to_challenger}.0'
        in text
    )
    assert (
        f'loopml_predictions_total{{model_version="1",variant="champion"}} {40 - to_challenger}.0'
        in text
    )


# ---------------------------------------------------------------------------- shadow


def test_shadow_logs_both_and_the_champion_answers(
    source: BundleSource, sink: PredictionLog, bundles: dict[str, ModelBundle]
) -> None:
    with _client(source, sink, challenger_mode="shadow") as client:
        answer = _predict(client, "s1")
        r = client.post("/v1/feedback", json={"request_id": "s1", "label": "yes"})
        assert r.status_code == 200, r.text
        client.app.state.loopml.shadow.drain()
        text = client.get("/metrics").text

    assert answer["model_version"] == "1" and answer["variant"] == "champion"
    rows = {row.variant: row for row in _logged(sink)}
    assert set(rows) == {"champion", "shadow"}
    assert rows["champion"].request_id == "s1"
    assert rows["shadow"].request_id == "s1#shadow"
    assert rows["shadow"].label_id == "s1"
    assert rows["shadow"].model_version == "2"
    # the flipped model says the opposite of the champion
    assert rows["shadow"].prediction != rows["champion"].prediction
    assert rows["champion"].prediction == answer["predictions"][0]
    # one label counts for both variants
    assert rows["champion"].label == "yes" and rows["shadow"].label == "yes"
    assert len(_logged(sink, variant="shadow")) == 1
    assert 'loopml_predictions_total{model_version="2",variant="shadow"} 1.0' in text


def test_shadow_logs_every_instance_of_a_batch(source: BundleSource, sink: PredictionLog) -> None:
    rows = [_row(age=float(a)) for a in (25, 45, 65)]
    with _client(source, sink, challenger_mode="shadow") as client:
        r = client.post("/v1/predict", json={"instances": rows}, headers={"X-Request-ID": "b"})
        assert r.status_code == 200
        stored = client.post("/v1/feedback", json=[{"request_id": "b-2", "label": "no"}]).json()
    assert stored == {"stored": 1}
    shadow = {row.request_id: row for row in _logged(sink, variant="shadow")}
    assert set(shadow) == {"b#shadow", "b-1#shadow", "b-2#shadow"}
    assert shadow["b-2#shadow"].label == "no" and not shadow["b#shadow"].has_label


class _BrokenPredictor:
    runtime = "python"

    def __init__(self, inner: Any):
        self.inner = inner
        self.calls = 0

    def predict(self, rows: Any, n: int) -> Predictions:
        self.calls += 1
        if self.calls > 1:  # the load check passes, the traffic does not
            raise RuntimeError("the challenger broke")
        answer: Predictions = self.inner.predict(rows, n)
        return answer


class _BreakingSource(BundleSource):
    def load(self, version: str) -> LoadedModel:
        model = super().load(version)
        if version != "2":
            return model
        return LoadedModel(
            name=model.name,
            version=model.version,
            runtime=model.runtime,
            reader=model.reader,
            predictor=_BrokenPredictor(model.predictor),
            schema=model.schema,
            problem=model.problem,
        )


def test_a_failing_shadow_is_counted_and_the_client_never_sees_it(
    bundles: dict[str, ModelBundle], sink: PredictionLog
) -> None:
    source = _BreakingSource(bundles)
    source.aliases["challenger"] = "2"
    with _client(source, sink, challenger_mode="shadow") as client:
        answer = _predict(client, "f1")
        client.app.state.loopml.shadow.drain()
        text = client.get("/metrics").text
    assert answer["model_version"] == "1"
    assert [row.variant for row in _logged(sink)] == ["champion"]
    assert "loopml_shadow_failures_total 1.0" in text


# ---------------------------------------------------------------------------- the alias


def test_without_a_challenger_the_champion_answers_alone_and_says_so(
    bundles: dict[str, ModelBundle], sink: PredictionLog
) -> None:
    source = BundleSource(bundles)  # no challenger alias
    with _client(source, sink, challenger_mode="shadow") as client:
        answer = _predict(client, "c1")
        described = client.get("/v1/model").json()["challenger"]
    assert answer["model_version"] == "1" and answer["variant"] == "champion"
    assert described["mode"] == "shadow" and described["version"] is None
    assert "no model has the alias 'challenger'" in described["status"]
    assert [row.variant for row in _logged(sink)] == ["champion"]


def test_the_challenger_alias_is_followed_when_it_moves_or_goes(
    bundles: dict[str, ModelBundle], sink: PredictionLog
) -> None:
    source = BundleSource({**bundles, "3": bundles["2"]})
    settings = {"challenger_mode": "ab", "challenger_fraction": 0.999999}
    with _client(source, sink, **settings) as client:
        assert _predict(client, "a0")["variant"] == "champion"  # none yet

        source.aliases["challenger"] = "2"
        reload = client.app.state.loopml.challenger.holder.refresh()  # what the poller does
        assert reload.outcome == "swapped"
        assert _predict(client, "a1")["model_version"] == "2"

        source.aliases["challenger"] = "3"
        assert client.app.state.loopml.challenger.holder.refresh().version == "3"
        assert _predict(client, "a2")["model_version"] == "3"
        assert client.get("/v1/model").json()["challenger"]["status"] == "comparing"

        source.aliases["challenger"] = "1"  # promoted: it is the champion's version now
        client.app.state.loopml.challenger.holder.refresh()
        promoted = _predict(client, "a3")
        assert (promoted["model_version"], promoted["variant"]) == ("1", "champion")

        del source.aliases["challenger"]
        gone = client.app.state.loopml.challenger.holder.refresh()
        assert gone.outcome == "removed" and gone.previous == "1"
        assert _predict(client, "a5")["variant"] == "champion"


def test_the_admin_reload_refreshes_the_challenger_too(
    bundles: dict[str, ModelBundle], sink: PredictionLog
) -> None:
    source = BundleSource(bundles)
    key = "k"
    headers = {"Authorization": f"Bearer {key}"}
    app = create_app(_settings(challenger_mode="shadow"), source, sink=sink, api_key=key)
    with TestClient(app) as client:
        source.aliases["challenger"] = "2"
        r = client.post("/v1/admin/reload", headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["challenger"]["outcome"] == "swapped"
        assert client.get("/v1/model", headers=headers).json()["challenger"]["version"] == "2"


def test_off_adds_nothing_to_the_answer(source: BundleSource, sink: PredictionLog) -> None:
    with _client(source, sink) as client:
        answer = _predict(client, "o1")
        described = client.get("/v1/model").json()["challenger"]
    assert "variant" not in answer
    assert described == {"mode": "off"}
    assert [row.variant for row in _logged(sink)] == ["champion"]


# ---------------------------------------------------------------------------- config


_YAML = """
name: churn
problem: {target: y}
data: {source: {type: csv, path: d.csv}}
serving:
  challenger: {CHALLENGER}
"""


def test_the_config_section_reaches_the_settings(tmp_path: Path) -> None:
    given = "{mode: ab, fraction: 0.2, sticky_column: cid}"
    config = parse_config(_YAML.replace("{CHALLENGER}", given))
    settings = service_settings(config, tracking_uri="sqlite:///x.db", workspace=tmp_path)
    assert (settings.challenger_mode, settings.challenger_fraction) == ("ab", 0.2)
    assert settings.challenger_sticky_column == "cid"
    flagged = service_settings(
        config,
        tracking_uri="sqlite:///x.db",
        workspace=tmp_path,
        overrides={"challenger": "shadow", "challenger_fraction": 0.5},
    )
    assert (flagged.challenger_mode, flagged.challenger_fraction) == ("shadow", 0.5)
    assert parse_config(_YAML.replace("{CHALLENGER}", "{}")).serving.challenger.mode == "off"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("{mode: canary}", r"serving\.challenger\.mode.*'off', 'ab' or 'shadow'"),
        ("{fraction: 1.5}", r"serving\.challenger\.fraction.*less than 1"),
        ("{fraction: 0}", r"serving\.challenger\.fraction.*greater than 0"),
        ("{sticky_column: ' '}", "sticky_column is empty"),
        ("{share: 0.1}", "share"),
    ],
)
def test_bad_challenger_settings_name_the_key(given: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_YAML.replace("{CHALLENGER}", given))


def test_a_full_shadow_queue_drops_instead_of_waiting() -> None:
    runner = ShadowRunner(queue_size=2)  # not started: nothing takes from the queue
    done: list[int] = []

    class Work:
        def __init__(self, i: int):
            self.i = i

        def run(self) -> None:
            done.append(self.i)

    assert [runner.submit(Work(i)) for i in range(3)] == [True, True, False]  # type: ignore[arg-type]
    runner.start()
    runner.stop()
    assert done == [0, 1]
