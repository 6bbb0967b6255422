"""Use-cases: submit, list, cancel, retry, record, limit, cost. No HTTP here beyond a status number."""
