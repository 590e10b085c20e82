"""Reading EXPLAIN output in tests."""


def sorts_by_distance(plan: str) -> bool:
    """Whether the plan sorts rows by a vector distance (a scan of all faces, not an HNSW index scan)."""
    return any("Sort Key" in line and "<=>" in line for line in plan.splitlines())
