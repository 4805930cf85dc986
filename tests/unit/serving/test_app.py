"""The prediction service through the test client (loopml.serving.app): the REST contract,
its errors, auth, metrics, OpenAPI and the model swap."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

import _needs as needs
from loopml.config import ProblemConfig
from loopml.data import infer_schema, prepare_target, resolve_problem
from loopml.errors import ConfigError, ModelNotFoundError
from loopml.modeling import make_pipeline
from loopml.registry import ModelBundle
from loopml.serving._contract import METRICS, Predictions
from loopml.serving._holder import LoadedModel, _gap, build_runtime
from loopml.serving._predlog import PredictionLog
from loopml.serving.app import ServiceSettings, create_app

KEY = "s3cret-key"


def _customers(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "age": rng.integers(20, 70, n).astype(float),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "signup": pd.date_range("2024-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        }
    )


def _bundle(flip: bool) -> ModelBundle:
    """A binary churn model; ``flip`` learns the opposite labels (a visibly other model)."""
    frame = _customers(80, seed=0)
    churn = (frame["age"] < 40) | (frame["plan"] == "basic")
    frame["churned"] = np.where(churn != flip, "yes", "no")
    problem = resolve_problem(frame, ProblemConfig(target="churned"))
    schema = infer_schema(frame, "churned", id_columns=["customer_id"])
    X = frame.drop(columns=["churned"])
    y = prepare_target(frame["churned"], problem.task)
    pipeline = make_pipeline(schema.roles(), "linear", problem.task, None, 0, 1).fit(X, y)
    return ModelBundle(
        pipeline=pipeline, schema=schema, problem=problem, id_columns=("customer_id",)
    )


class BundleSource:
    """Versions held in memory, read and predicted by the real row path (the registry's
    own loading is tested in tests/services/test_serve.py)."""

    def __init__(self, bundles: Mapping[str, ModelBundle], extra_columns: str = "ignore"):
        self.bundles = dict(bundles)
        self.aliases = {"champion": "1"}
        self.extra_columns = extra_columns

    def resolve(self, ref: str) -> str:
        version = self.aliases.get(ref, ref)
        if version not in self.bundles:
            raise ModelNotFoundError(f"no version {version}")
        return version

    def load(self, version: str) -> LoadedModel:
        bundle = self.bundles[version]
        reader, predictor = build_runtime(bundle, "python", self.extra_columns)
        return LoadedModel(
            name="churn",
            version=version,
            runtime=predictor.runtime,
            reader=reader,
            predictor=predictor,
            schema=bundle.schema,
            problem=bundle.problem,
            id_columns=bundle.id_columns,
        )


@pytest.fixture(scope="module")
def bundles() -> dict[str, ModelBundle]:
    return {"1": _bundle(flip=False), "2": _bundle(flip=True)}


def _settings(**kw: Any) -> ServiceSettings:
    base: dict[str, Any] = {
        "tracking_uri": "sqlite:///unused.db",
        "model_name": "churn",
        "artifact_root": "unused",
        "reload_poll_seconds": 0,
    }
    return ServiceSettings(**{**base, **kw})


@pytest.fixture
def source(bundles: dict[str, ModelBundle]) -> BundleSource:
    return BundleSource(bundles)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[PredictionLog]:
    with PredictionLog(f"sqlite:///{tmp_path}/predictions.db", flush_seconds=0.05) as log:
        yield log


@pytest.fixture
def client(source: BundleSource, sink: PredictionLog) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(), source, sink=sink)) as c:
        yield c


def _logged(sink: PredictionLog) -> list[Any]:
    sink.flush()
    return sink.read(0, time.time() + 1)


def _row(**kw: Any) -> dict[str, Any]:
    return {"customer_id": 7, "age": 30.0, "plan": "pro", "signup": "2024-02-01", **kw}


# ---------------------------------------------------------------------------- predict


def test_one_instance_is_predicted_with_its_request_id(
    client: TestClient, bundles: dict[str, ModelBundle], sink: PredictionLog
) -> None:
    r = client.post("/v1/predict", json={"instances": [_row()]}, headers={"X-Request-ID": "abc"})

    assert r.status_code == 200
    assert r.headers["x-request-id"] == "abc"
    body = r.json()
    expected = bundles["1"].predict_frame(pd.DataFrame([_row()]))
    assert body["predictions"] == expected["prediction"].tolist()
    assert body["probabilities"][0] == pytest.approx(
        {"no": expected["proba_no"].iloc[0], "yes": expected["proba_yes"].iloc[0]}
    )
    assert body["model_version"] == "1"
    assert body["request_ids"] == ["abc"]
    assert body["warnings"] == {"ignored_columns": ["customer_id"]}
    logged = _logged(sink)
    assert [(e.request_id, e.model_version, e.prediction) for e in logged] == [
        ("abc", "1", body["predictions"][0])
    ]
    assert logged[0].features == {"age": 30.0, "plan": "pro", "signup": "2024-02-01"}


def test_many_instances_get_one_id_each(
    client: TestClient, bundles: dict[str, ModelBundle]
) -> None:
    rows = [_row(age=float(a), plan=p) for a, p in [(25, "pro"), (60, "team"), (45, "basic")]]
    r = client.post("/v1/predict", json={"instances": rows})

    body = r.json()
    rid = r.headers["x-request-id"]
    assert len(rid) == 32  # generated: none was sent
    assert body["request_ids"] == [rid, f"{rid}-1", f"{rid}-2"]
    expected = bundles["1"].predict_frame(pd.DataFrame(rows))
    assert body["predictions"] == expected["prediction"].tolist()


def test_unseen_categories_are_predicted_and_flagged(client: TestClient) -> None:
    r = client.post("/v1/predict", json={"instances": [_row(), _row(plan="gold", extra=1)]})

    assert r.status_code == 200
    warnings = r.json()["warnings"]
    assert warnings["ignored_columns"] == ["customer_id", "extra"]
    assert [w["index"] for w in warnings["instances"]] == [1]
    assert "gold" in warnings["instances"][0]["messages"][0]


def test_extra_columns_are_refused_when_configured(bundles: dict[str, ModelBundle]) -> None:
    source = BundleSource(bundles, extra_columns="reject")
    app = create_app(_settings(extra_columns="reject"), source)
    with TestClient(app) as c:
        r = c.post("/v1/predict", json={"instances": [_row(), _row(note="x")]})

    assert r.status_code == 422
    locs = [d["loc"] for d in r.json()["detail"]]
    assert locs == [
        ["body", "instances", 0, "customer_id"],
        ["body", "instances", 1, "customer_id"],
        ["body", "instances", 1, "note"],
    ]
    assert "serving.extra_columns: ignore" in r.json()["error"]


# ---------------------------------------------------------------------------- bad requests


def test_a_missing_column_and_an_unreadable_value_name_field_and_instance(
    client: TestClient,
) -> None:
    second = _row(age="old")
    del second["plan"]
    r = client.post("/v1/predict", json={"instances": [_row(), second]})

    assert r.status_code == 422
    body = r.json()
    assert {tuple(d["loc"]) for d in body["detail"]} == {
        ("body", "instances", 1, "age"),
        ("body", "instances", 1, "plan"),
    }
    assert "instance 1, field 'age'" in body["error"]
    assert body["request_id"] == r.headers["x-request-id"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "body is empty"),
        (b'{"rows": []}', 422, "'instances' list"),
        (b'{"instances": []}', 422, "non-empty list"),
        (b'{"instances": [1]}', 422, "must be a JSON object"),
    ],
)
def test_malformed_bodies_get_a_message(
    client: TestClient, body: bytes, status: int, message: str
) -> None:
    r = client.post("/v1/predict", content=body, headers={"Content-Type": "application/json"})

    assert r.status_code == status
    assert message in r.json()["error"]


def test_limits_answer_413(source: BundleSource) -> None:
    app = create_app(_settings(max_instances=2, max_body_bytes=2048), source)
    with TestClient(app) as c:
        many = c.post("/v1/predict", json={"instances": [_row()] * 3})
        big = c.post("/v1/predict", json={"instances": [_row(note="x" * 3000)]})

    assert many.status_code == 413
    assert "at most 2 per request (serving.limits.max_instances)" in many.json()["error"]
    assert big.status_code == 413
    assert "serving.limits.max_body_bytes" in big.json()["error"]


# ---------------------------------------------------------------------------- auth


def test_with_a_key_only_health_and_metrics_are_open(source: BundleSource) -> None:
    app = create_app(_settings(api_key_env="LOOPML_KEY"), source, api_key=KEY)
    with TestClient(app) as c:
        none = c.post("/v1/predict", json={"instances": [_row()]})
        wrong = c.get("/v1/model", headers={"Authorization": "Bearer nope"})
        right = c.post(
            "/v1/predict", json={"instances": [_row()]}, headers={"Authorization": f"Bearer {KEY}"}
        )
        open_paths = [c.get(p).status_code for p in ("/healthz", "/readyz", "/metrics")]
        v2_ready = c.get("/v2/health/ready").status_code

    assert none.status_code == 401
    assert none.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer <key>" in none.json()["error"]
    assert wrong.status_code == 401
    assert "not valid" in wrong.json()["error"]
    assert right.status_code == 200
    assert open_paths == [200, 200, 200]
    assert v2_ready == 200


def test_admin_needs_a_key_even_without_auth(client: TestClient) -> None:
    r = client.post("/v1/admin/reload")

    assert r.status_code == 403
    assert "serving.api_key_env" in r.json()["error"]


def test_serving_beyond_localhost_needs_a_key() -> None:
    exposed = _settings(host="0.0.0.0")
    with pytest.raises(ConfigError, match=r"refusing to serve on 0\.0\.0\.0 without an API key"):
        exposed.check_exposure({})
    keyed = _settings(host="0.0.0.0", api_key_env="LOOPML_KEY")
    with pytest.raises(ConfigError, match="'LOOPML_KEY', which is not set or empty"):
        keyed.check_exposure({})
    keyed.check_exposure({"LOOPML_KEY": KEY})  # a key set: allowed
    _settings().check_exposure({})  # localhost: allowed without a key


# ---------------------------------------------------------------------------- swap


def test_reload_swaps_to_the_promoted_version(
    source: BundleSource, bundles: dict[str, ModelBundle]
) -> None:
    app = create_app(_settings(api_key_env="K"), source, api_key=KEY)
    auth = {"Authorization": f"Bearer {KEY}"}
    row = _row(age=25.0, plan="basic")
    with TestClient(app) as c:
        before = c.post("/v1/predict", json={"instances": [row]}, headers=auth).json()
        unchanged = c.post("/v1/admin/reload", headers=auth).json()
        source.aliases["champion"] = "2"
        swapped = c.post("/v1/admin/reload", headers=auth).json()
        after = c.post("/v1/predict", json={"instances": [row]}, headers=auth).json()
        info = c.get("/metrics").text

    assert unchanged["outcome"] == "unchanged"
    assert swapped == {
        "outcome": "swapped",
        "model_version": "2",
        "previous_version": "1",
        "message": "",
    }
    assert (before["model_version"], after["model_version"]) == ("1", "2")
    assert before["predictions"] != after["predictions"]  # the flipped model answers
    assert 'loopml_model_info{name="churn",runtime="' in info


def test_a_model_that_fails_its_check_is_not_swapped_in(
    source: BundleSource, bundles: dict[str, ModelBundle]
) -> None:
    broken = _bundle(flip=False)
    object.__setattr__(broken, "pipeline", None)  # predicting raises
    source.bundles["3"] = broken
    app = create_app(_settings(api_key_env="K"), source, api_key=KEY)
    auth = {"Authorization": f"Bearer {KEY}"}
    with TestClient(app) as c:
        source.aliases["champion"] = "3"
        r = c.post("/v1/admin/reload", headers=auth)
        still = c.post("/v1/predict", json={"instances": [_row()]}, headers=auth)
        metrics = c.get("/metrics").text

    assert r.status_code == 409
    assert "loading version 3 failed (TypeError" in r.json()["error"]
    assert "version 1 keeps serving" in r.json()["error"]
    assert still.json()["model_version"] == "1"
    assert 'loopml_model_reloads_total{outcome="failed"} 1.0' in metrics


# ---------------------------------------------------------------------------- metrics, model


def test_metrics_parse_and_carry_exactly_the_contract_names(client: TestClient) -> None:
    client.post("/v1/predict", json={"instances": [_row(plan="gold"), _row()]})
    client.post("/v1/predict", content=b"{")
    text = client.get("/metrics").text

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    names = {name for name, _ in samples}
    exported = {n for n in names if not n.endswith(("_created", "_bucket", "_count", "_sum"))}
    exported |= {n[: -len("_bucket")] for n in names if n.endswith("_bucket")}
    assert exported == set(METRICS)
    predict = (("endpoint", "/v1/predict"),)
    assert samples[("loopml_requests_total", (*predict, ("status", "200")))] == 1.0
    assert samples[("loopml_request_errors_total", (*predict, ("status", "400")))] == 1.0
    assert (
        samples[("loopml_predictions_total", (("model_version", "1"), ("variant", "champion")))]
        == 2.0
    )
    assert samples[("loopml_prediction_warnings_total", (("kind", "unseen_category"),))] == 1.0
    assert samples[("loopml_request_duration_seconds_count", predict)] == 2.0
    runtime = client.get("/v1/model").json()["runtime"]
    info = ("loopml_model_info", (("name", "churn"), ("runtime", runtime), ("version", "1")))
    assert samples[info] == 1.0


def test_model_endpoint_describes_the_input_schema(client: TestClient) -> None:
    body = client.get("/v1/model").json()

    assert (body["name"], body["version"], body["task"]) == ("churn", "1", "binary")
    assert body["classes"] == ["no", "yes"]
    assert [(c["name"], c["role"]) for c in body["input_schema"]] == [
        ("age", "numeric"),
        ("plan", "categorical"),
        ("signup", "datetime"),
    ]
    assert body["input_schema"][1]["categories"] == ["basic", "pro", "team"]
    assert body["ignored_columns"] == ["customer_id"]


def test_openapi_describes_the_models_columns(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()

    instance = doc["components"]["schemas"]["Instance"]
    assert instance["required"] == ["age", "plan", "signup"]
    assert instance["properties"]["age"]["type"] == ["number", "null"]
    assert instance["properties"]["signup"]["format"] == "date-time"
    body = doc["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["instances"]["items"] == {
        "$ref": "#/components/schemas/Instance"
    }
    assert set(doc["paths"]) >= {"/v1/predict", "/v2/models/{name}/infer", "/metrics"}


# ---------------------------------------------------------------------------- feedback


def test_metrics_export_the_gauges_monitoring_left(source: BundleSource, tmp_path: Path) -> None:
    from loopml.monitoring._contract import DriftReport, FeatureDrift, Performance, WindowReport
    from loopml.monitoring._gauges import write_status
    from loopml.serving import MONITORING_METRICS

    drift = FeatureDrift("age", "ks", 0.3, 1e-12, 1e-11, 0.4, "psi", True, 900)
    calm = FeatureDrift("plan", "chi2", 1.0, 0.5, 0.5, 0.001, "psi", False, 900)
    window = WindowReport(
        0.0, 86_400.0, 900, 300, [drift, calm], None, [],
        Performance("roc_auc", 0.71, 0.66, 0.76, 300, "labels"),
        Performance("roc_auc", 0.74, 0.70, 0.78, 900, "cbpe"),
        ["age drifted"],
    )  # fmt: skip
    status = tmp_path / "status.json"
    write_status(status, DriftReport("churn", "1", 0.01, 0.01, 86_400.0, [window]), now=5.0)
    app = create_app(_settings(monitoring_status=str(status)), source)

    with TestClient(app) as c:
        text = c.get("/metrics").text
        status.write_text("{broken", encoding="utf-8")
        broken = c.get("/metrics")

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    names = {name for name, _ in samples}
    assert names >= set(MONITORING_METRICS) - {"loopml_prediction_drift_effect"}
    v1 = ("model_version", "1")
    assert samples[("loopml_monitoring_alarm", (v1,))] == 1.0
    assert samples[("loopml_features_drifted", (v1,))] == 1.0
    assert samples[("loopml_feature_drift_effect", (("feature", "age"), v1))] == 0.4
    assert samples[("loopml_monitoring_run_seconds", ())] == 5.0
    perf = ("loopml_model_performance", (("kind", "estimated"), ("metric", "roc_auc"), v1))
    assert samples[perf] == 0.74
    assert broken.status_code == 200 and "loopml_monitoring_alarm" not in broken.text


def test_feedback_stores_labels_of_logged_predictions(
    client: TestClient, sink: PredictionLog
) -> None:
    ids = client.post("/v1/predict", json={"instances": [_row(), _row()]}).json()["request_ids"]

    one = client.post("/v1/feedback", json={"request_id": ids[0], "label": "yes"})
    many = client.post("/v1/feedback", json=[{"request_id": ids[1], "label": "no"}])

    assert (one.status_code, one.json()) == (200, {"stored": 1})
    assert (many.status_code, many.json()) == (200, {"stored": 1})
    labelled = {e.request_id: e.label for e in _logged(sink)}
    assert labelled == {ids[0]: "yes", ids[1]: "no"}


def test_feedback_for_unknown_ids_is_a_404_naming_them(
    client: TestClient, sink: PredictionLog
) -> None:
    rid = client.post("/v1/predict", json={"instances": [_row()]}).json()["request_ids"][0]

    r = client.post(
        "/v1/feedback",
        json=[{"request_id": rid, "label": "yes"}, {"request_id": "nope", "label": "no"}],
    )

    assert r.status_code == 404
    assert "nope" in r.json()["error"] and rid not in r.json()["error"]
    assert [e.has_label for e in _logged(sink)] == [False]  # all or nothing


def test_feedback_with_a_wrong_label_names_the_item(client: TestClient) -> None:
    r = client.post(
        "/v1/feedback",
        json=[{"request_id": "a", "label": "yes"}, {"request_id": "b", "label": "maybe"}, {}],
    )

    assert r.status_code == 422
    locs = [d["loc"] for d in r.json()["detail"]]
    assert locs == [["body", 1, "label"], ["body", 2, "request_id"]]
    assert "'maybe' is not one of the model's classes ['no', 'yes']" in r.json()["error"]


def test_feedback_with_an_overlong_request_id_is_a_422(client: TestClient) -> None:
    r = client.post("/v1/feedback", json={"request_id": "x" * 201, "label": "yes"})

    assert r.status_code == 422
    assert [d["loc"] for d in r.json()["detail"]] == [["body", 0, "request_id"]]
    assert "at most 200 characters" in r.json()["error"]


def test_a_database_that_refuses_writes_is_a_503_and_counted(
    client: TestClient, sink: PredictionLog, tmp_path: Path
) -> None:
    rid = client.post("/v1/predict", json={"instances": [_row()]}).json()["request_ids"][0]
    sink.flush()
    with sqlite3.connect(tmp_path / "predictions.db") as db:  # the database breaks
        db.execute("DROP TABLE loopml_feedback")
        db.execute("DROP TABLE loopml_predictions")

    answered = client.post("/v1/predict", json={"instances": [_row()]})
    sink.flush()  # the writer retries for about 4 s, then gives the batch up
    feedback = client.post("/v1/feedback", json={"request_id": rid, "label": "yes"})
    text = client.get("/metrics").text

    assert answered.status_code == 200  # async logging: the answer does not wait for it
    assert feedback.status_code == 503
    assert "could not be stored" in feedback.json()["error"]
    failed = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "loopml_prediction_log_failed_total"
    ]
    assert failed == [1.0]


# ---------------------------------------------------------------------------- v2


def _tensor(name: str, datatype: str, data: list[Any]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": [len(data)], "data": data}


def test_v2_infer_answers_like_predict(client: TestClient, bundles: dict[str, ModelBundle]) -> None:
    rows = [_row(age=25.0, plan="basic"), _row(age=60.0, plan="team")]
    inputs = [
        _tensor("age", "FP64", [r["age"] for r in rows]),
        _tensor("plan", "BYTES", [r["plan"] for r in rows]),
        _tensor("signup", "BYTES", [r["signup"] for r in rows]),
    ]
    meta = client.get("/v2/models/churn").json()
    r = client.post("/v2/models/churn/infer", json={"id": "q1", "inputs": inputs})
    wrong = client.post("/v2/models/other/infer", json={"inputs": inputs})
    short = client.post("/v2/models/churn/infer", json={"inputs": inputs[:2]})

    assert [i["name"] for i in meta["inputs"]] == ["age", "plan", "signup"]
    assert r.status_code == 200
    body = r.json()
    assert (body["id"], body["model_version"]) == ("q1", "1")
    expected = bundles["1"].predict_frame(pd.DataFrame(rows))
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["prediction"]["data"] == expected["prediction"].tolist()
    assert outputs["probabilities"]["shape"] == [2, 2]
    assert outputs["probabilities"]["data"] == pytest.approx(
        expected[["proba_no", "proba_yes"]].to_numpy().ravel().tolist()
    )
    assert wrong.status_code == 404 and "this server serves 'churn'" in wrong.json()["error"]
    assert short.status_code == 400 and "'signup'" in short.json()["error"]


# ---------------------------------------------------------------------------- runtimes


@pytest.mark.parametrize(
    ("runtime", "serves"),
    [("auto", "onnx"), ("onnx", "onnx"), ("python", "python"), ("frame", "frame")],
)
def test_each_runtime_answers_like_the_pipeline(
    bundles: dict[str, ModelBundle], runtime: str, serves: str
) -> None:
    needs.module("onnxruntime")
    bundle = bundles["1"]
    rows = [_row(age=float(a), plan=p) for a, p in [(22, "pro"), (61, "team"), (45, "basic")]]
    reader, predictor = build_runtime(bundle, runtime, "ignore")
    batch = reader.read(rows)
    got = predictor.predict(batch.rows, batch.n)

    expected = bundle.predict_frame(pd.DataFrame(rows))
    assert predictor.runtime == serves  # auto: this linear pipeline converts and agrees
    assert got.predictions == expected["prediction"].tolist()
    proba = [[p["no"], p["yes"]] for p in got.probabilities or []]
    np.testing.assert_allclose(proba, expected[["proba_no", "proba_yes"]], atol=1e-4)


def test_the_gap_between_runtimes_is_measured_in_the_parity_bound() -> None:
    near = Predictions(["yes"], [{"no": 0.2, "yes": 0.8}])
    off = Predictions(["yes"], [{"no": 0.19, "yes": 0.81}])

    assert _gap(near, near) == 0.0
    assert _gap(off, near) == pytest.approx(0.01)
    assert _gap(Predictions([110.0]), Predictions([100.0])) == pytest.approx(0.1)  # relative
    assert _gap(Predictions([1.0, 2.0]), Predictions([1.0])) == float("inf")


def test_sync_logging_answers_only_what_was_written(source: BundleSource, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sync.db"
    with PredictionLog(url, mode="sync") as log:
        app = create_app(_settings(prediction_log={"mode": "sync"}), source, sink=log)
        with TestClient(app) as c:
            ids = c.post("/v1/predict", json={"instances": [_row(), _row()]}).json()["request_ids"]
            written = log.stats().written  # no flush: sync mode wrote before answering
            logged = [e.request_id for e in log.read(0, time.time() + 1)]

    assert written == 2
    assert logged == ids


def test_refusals_carry_the_request_id_too(source: BundleSource) -> None:
    app = create_app(_settings(api_key_env="K"), source, api_key=KEY)
    with TestClient(app) as c:
        r = c.get("/v1/model", headers={"X-Request-ID": "trace-7"})

    assert r.status_code == 401
    assert r.headers["x-request-id"] == "trace-7"
    assert r.json()["request_id"] == "trace-7"


def test_v2_infer_reads_tritons_binary_tensor_data(
    client: TestClient, bundles: dict[str, ModelBundle]
) -> None:
    triton = needs.module("tritonclient.http")
    rows = [_row(age=25.0, plan="basic"), _row(age=60.0, plan="team")]
    inputs = []
    for name, datatype, dtype in [("age", "FP64", float), ("plan", "BYTES", object)]:
        tensor = triton.InferInput(name, [2], datatype)
        tensor.set_data_from_numpy(np.array([r[name] for r in rows], dtype=dtype))  # binary
        inputs.append(tensor)
    signup = triton.InferInput("signup", [2, 1], "BYTES")
    signup.set_data_from_numpy(np.array([[r["signup"]] for r in rows], dtype=object))
    inputs.append(signup)
    body, json_size = triton.InferenceServerClient.generate_request_body(inputs)

    headers = {"Inference-Header-Content-Length": str(json_size)}
    r = client.post("/v2/models/churn/infer", content=body, headers=headers)
    cut = client.post("/v2/models/churn/infer", content=body[:10], headers=headers)

    assert r.status_code == 200, r.text
    outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
    expected = bundles["1"].predict_frame(pd.DataFrame(rows))
    assert outputs["prediction"] == expected["prediction"].tolist()
    assert cut.status_code == 400
    assert "Inference-Header-Content-Length" in cut.json()["error"]
