"""The dashboard: the platform's front door (REST API and web UI) in an OmaStack's namespace.

Layers import downward only: routes (HTTP) -> services (use-cases) -> stores (Postgres, Redis, Kubernetes)
-> models. It creates VideoJobs and reads their outputs; it never runs ffmpeg.
"""
