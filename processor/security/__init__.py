"""Connecting to a secured cluster: TLS files, why the cluster refused us, secrets in files."""
