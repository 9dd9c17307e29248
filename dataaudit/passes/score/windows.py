"""The sliding-window arithmetic for documents longer than the model's context."""

from __future__ import annotations

from ...errors import ConfigError


def plan_windows(n_seq: int, max_length: int, stride: int) -> list[tuple[int, int, int]]:
    """Windows ``(a, e, k)`` covering a sequence of ``n_seq`` tokens (BOS included when used).

    The window feeds tokens ``seq[a:e]`` (at most ``max_length``) and predicts ``seq[a+1:e+1]``; only its
    last ``k`` predictions are scored, so every target ``seq[1:]`` is scored exactly once. The first window
    scores everything it sees; each later window scores ``stride`` new tokens with up to
    ``max_length - stride`` tokens of earlier context beyond the one preceding token.

    >>> plan_windows(5, 4, 4)            # fits: one window, 4 targets
    [(0, 4, 4)]
    >>> plan_windows(10, 4, 4)           # non-overlapping; the last window is full length
    [(0, 4, 4), (4, 8, 4), (5, 9, 1)]
    >>> plan_windows(10, 4, 2)           # stride 2: every later target sees >= 2 tokens of context
    [(0, 4, 4), (2, 6, 2), (4, 8, 2), (5, 9, 1)]
    >>> plan_windows(1, 4, 4)            # BOS only: nothing to score
    []
    """
    if max_length < 1 or not 1 <= stride <= max_length:
        raise ConfigError(f"need 1 <= stride ({stride}) <= max_length ({max_length})")
    n_targets = n_seq - 1
    if n_targets <= 0:
        return []
    done = min(max_length, n_targets)
    out = [(0, done, done)]
    while done < n_targets:
        e = min(done + stride, n_targets)
        out.append((max(0, e - max_length), e, e - done))
        done = e
    return out
