"""The operator's metrics, and the alert rules and Grafana dashboards built over them (pure data)."""
