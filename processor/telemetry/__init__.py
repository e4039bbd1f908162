"""How an operator sees a running processor: metrics, liveness and readiness, the HTTP endpoint."""
