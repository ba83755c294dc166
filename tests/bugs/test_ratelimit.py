"""The counter behind the SDK's 429s, on whichever cache is configured (locmem or Redis in CI)."""

from bugs.ratelimit import WINDOW_SECONDS, rate_limit_hit


def test_counts_up_to_the_limit_then_says_how_long_to_wait():
    start = 1_000_000 * WINDOW_SECONDS + 10  # ten seconds into a window
    assert [rate_limit_hit(scope="t", limit=3, now=start) for _ in range(3)] == [None] * 3
    assert rate_limit_hit(scope="t", limit=3, now=start) == WINDOW_SECONDS - 10


def test_a_new_window_starts_a_new_budget():
    start = 2_000_000 * WINDOW_SECONDS
    for _ in range(2):
        rate_limit_hit(scope="w", limit=1, now=start)
    assert rate_limit_hit(scope="w", limit=1, now=start + WINDOW_SECONDS) is None


def test_scopes_do_not_share_a_budget():
    now = 3_000_000 * WINDOW_SECONDS
    assert rate_limit_hit(scope="a", limit=1, now=now) is None
    assert rate_limit_hit(scope="b", limit=1, now=now) is None
    assert rate_limit_hit(scope="a", limit=1, now=now) is not None
