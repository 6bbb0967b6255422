"""The one adapter that talks to the Kubernetes API (lightkube): client factory, apply, get, status, events."""
