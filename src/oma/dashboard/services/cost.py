"""What a job cost: encode seconds x CPU request (cores) x price per CPU-hour."""

from __future__ import annotations

from decimal import Decimal


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity ("1", "500m", "1.5") in cores."""
    q = quantity.strip()
    if q.endswith("m"):
        return float(q[:-1]) / 1000
    return float(q)


def job_cost(encode_seconds: float, cores: float, price_per_cpu_hour: float) -> Decimal:
    cost = Decimal(str(encode_seconds)) * Decimal(str(cores)) * Decimal(str(price_per_cpu_hour)) / Decimal(3600)
    return cost.quantize(Decimal("0.000001"))
