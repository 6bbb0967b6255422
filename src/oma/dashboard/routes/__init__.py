"""HTTP only: parse, call a use-case, shape the response."""
