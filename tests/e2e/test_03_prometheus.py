"""3. The in-cluster Prometheus scrapes the server pods: the requests this test sends show up labelled
with model, version and variant."""

import httpx

from mlkube_server import metric_names as m

from .kube import prometheus_query, service_url, wait_for
from .load import PENGUIN
from .platform import RELEASE


def test_prometheus_sees_labelled_requests(server_url):
    for _ in range(20):
        assert httpx.post(f"{server_url}/predict", json=PENGUIN, timeout=10).status_code == 200
    prometheus = service_url(f"{RELEASE}-monitoring-prometheus")
    query = f'sum by ({m.MODEL}, {m.VERSION}, {m.VARIANT}) ({m.REQUESTS_TOTAL}{{{m.PROTOCOL}="seed"}})'

    def labelled_series():
        return [s for s in prometheus_query(prometheus, query) if float(s["value"][1]) >= 20] or None

    series = wait_for("Prometheus to scrape the model server pods", labelled_series, timeout=180, interval=5)
    labels = series[0]["metric"]
    assert labels[m.MODEL] == "penguins-random-forest"
    assert labels[m.VARIANT] == "stable"
    assert labels[m.VERSION].isdigit(), labels
