"""A weak match of another track inside a strong play is dropped; a crossfade between two plays is kept."""

from pige_pipeline.airplay.matcher import DEFAULT_PARAMS, Play, _drop_shadowed, resolve


def _play(track: int, start: float, end: float, ber: float, ref_offset: float = 0.0) -> Play:
    items = int((end - start) / 0.1238)
    return Play(track, f"T{track}", start, end, ref_offset, 1.0, ber, items, (start - ref_offset) / 0.1238)


def test_weak_track_inside_a_strong_play_is_dropped_even_after_the_strong_play_grows() -> None:
    strong_head = _play(2, 3439.0, 3480.0, 0.01)  # ranks first, covers only the start at first
    strong_rest = _play(
        2, 3478.0, 3600.0, 0.01, ref_offset=39.0
    )  # absorbed into the head: the play grows to 3600
    inside = _play(46, 3511.0, 3555.0, 0.20)  # chance match of another track within the strong play
    kept = resolve([strong_head, strong_rest, inside], DEFAULT_PARAMS)
    assert [(p.track, round(p.start_s), round(p.end_s)) for p in kept] == [(2, 3439, 3600)]


def test_crossfade_between_two_plays_keeps_both() -> None:
    first = _play(1, 0.0, 200.0, 0.02)
    second = _play(3, 192.0, 400.0, 0.03)  # 8 s crossfade
    kept = resolve([first, second], DEFAULT_PARAMS)
    assert sorted(p.track for p in kept) == [1, 3]


def test_final_pass_drops_weak_tracks_inside_a_finished_play() -> None:
    # As seen on the demo hour: a grown SGL003 play (3439-3600) and three weak DRA031 fragments inside.
    strong = _play(2, 3439.0, 3600.0, 0.006)
    fragments = [
        _play(46, 3439.5, 3479.7, 0.22),
        _play(46, 3511.4, 3555.1, 0.20),
        _play(46, 3556.5, 3598.2, 0.23),
    ]
    kept = _drop_shadowed([*fragments, strong], DEFAULT_PARAMS)
    assert kept == [strong]
