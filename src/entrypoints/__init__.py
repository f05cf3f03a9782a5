"""Entrypoints: the Litestar HTTP API, the ``picpaygo`` CLI and the composition root."""
