"""A real local Kubernetes control plane for development and tests (no container runtime needed)."""
