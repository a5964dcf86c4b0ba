"""Generators for the monitoring chart's content: Prometheus rules, their promtool tests, Grafana dashboards."""
