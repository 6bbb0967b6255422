from __future__ import annotations

from oma.worker.progress import ProgressTracker, parse_blocks

OUTPUT = """frame=10
fps=N/A
out_time_us=N/A
speed=N/A
progress=continue
frame=50
fps=25.0
out_time_us=2000000
speed=2.00x
progress=continue
frame=40
out_time_us=1500000
speed=1.9x
progress=continue
frame=100
out_time_us=4000000
speed=2.1x
progress=end
"""


def test_blocks_become_monotonic_progress_ending_at_100() -> None:
    tracker = ProgressTracker(expected_seconds=4.0)
    seen = [tracker.update(b) for b in parse_blocks(OUTPUT.splitlines())]
    percents = [p.percent for p in seen]
    assert percents == sorted(percents), "progress never goes backwards"
    assert percents[0] == 0 and percents[1] == 50.0 and percents[-1] == 100.0
    assert seen[1].speed == 2.0 and seen[1].fps == 25.0
    assert seen[1].eta_seconds == 1.0  # 2 s of output left at 2x
    assert seen[-1].eta_seconds is None
