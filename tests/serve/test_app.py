"""The model server: its endpoints, its limits (never a 500 for bad input), the API key and the metrics."""

from __future__ import annotations

import io

import numpy as np
import pytest
from sklearn.datasets import load_digits

from neuralab.cli.main import main

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from neuralab.serve import create_app  # noqa: E402

DIGITS = load_digits()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    assert main(["train", "digits-mlp", "--set", "trainer.epochs=3", "--quiet", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def client(run_dir):
    return TestClient(create_app([run_dir], max_body=200_000, max_rows=50))


def test_health_models_and_docs(client):
    assert client.get("/health").json()["status"] == "ok"
    models = client.get("/models").json()
    assert models[0]["name"] == "digits" and models[0]["task"] == "classification" and "accuracy" in models[0]["test"]
    assert client.get("/docs").status_code == 200 and "/models/{name}/predict" in client.get("/openapi.json").text


def test_json_rows_are_predicted_as_the_cli_predicts_them(client, run_dir):
    rows = DIGITS.data[:5].tolist()
    answer = client.post("/models/digits/predict", json={"inputs": rows}).json()
    assert answer["failed"] == 0 and len(answer["rows"]) == 5 and "p_0" in answer["columns"]
    from neuralab.tasks import load_run

    expected = load_run(run_dir).predict(np.array(rows))
    assert [r["prediction"] for r in answer["rows"]] == [str(p) for p in expected]


def test_a_csv_upload_is_predicted_and_keeps_its_name(client):
    buffer = io.StringIO()
    np.savetxt(buffer, DIGITS.data[:3], delimiter=",")
    response = client.post("/models/digits/predict", files={"file": ("mine.csv", buffer.getvalue(), "text/csv")})
    assert response.status_code == 200 and len(response.json()["rows"]) == 3


@pytest.mark.parametrize("body, message", [
    ({"inputs": []}, "non-empty list"),
    ({"rows": [[1]]}, "send {"),
    ({"inputs": [[1, 2, 3]]}, "expects 64 features per row"),
    ({"inputs": [["a", "b"]]}, "numbers only"),
    ({"inputs": [[1, 2], [1, 2, 3]]}, "the same length"),
    ({"inputs": [[0.0] * 64] * 51}, "at most 50 inputs"),
    ({"inputs": ["/etc/hostname"]}, "file paths are not read over HTTP"),
    ({"inputs": [{"x": 1}]}, "expected a list of numbers or a string"),
    ({"inputs": ["x" * 2000]}, "longer than 1,000 characters"),
])
def test_bad_bodies_are_422_with_the_reason(client, body, message):
    response = client.post("/models/digits/predict", json=body)
    assert response.status_code == 422 and message in response.json()["detail"]


def test_not_json_an_unknown_model_and_a_huge_body(client):
    response = client.post("/models/digits/predict", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "not JSON" in response.text
    assert client.post("/models/nope/predict", json={"inputs": [[1]]}).status_code == 404
    huge = client.post("/models/digits/predict", content=b"x" * 300_000, headers={"content-type": "application/json"})
    assert huge.status_code == 413 and "larger than 200,000 bytes" in huge.text


def test_an_api_key_is_required_when_set(run_dir):
    keyed = TestClient(create_app([run_dir], api_key="s3cret"))
    assert keyed.get("/health").status_code == 200, "health stays open for load balancers"
    assert keyed.get("/models").status_code == 401
    assert keyed.get("/models", headers={"x-api-key": "wrong"}).status_code == 401
    assert keyed.get("/models", headers={"x-api-key": "s3cret"}).status_code == 200


def test_metrics_count_requests_and_predictions(client):
    client.post("/models/digits/predict", json={"inputs": DIGITS.data[:2].tolist()})
    text = client.get("/metrics").text
    assert 'neuralab_requests_total{route="/models/{name}/predict",status="200"}' in text
    assert "neuralab_request_seconds_bucket" in text and 'neuralab_predictions_total{model="digits"}' in text


def test_the_pages_have_no_outside_resources_and_a_canvas_for_digits(client):
    index = client.get("/").text
    assert "/models/digits/page" in index
    page = client.get("/models/digits/page").text
    assert "<canvas" in page and "http://" not in page and "https://" not in page and "src=" not in page


def test_serve_warns_when_it_listens_beyond_this_machine(run_dir, monkeypatch, capsys):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    assert main(["serve", str(run_dir), "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert calls[0]["host"] == "0.0.0.0" and "anyone who can reach this machine" in capsys.readouterr().err
    assert main(["serve", str(run_dir)]) == 0 and calls[1]["host"] == "127.0.0.1"
    assert main(["serve", str(run_dir), "--port", "0"]) == 2
