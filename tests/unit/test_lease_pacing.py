"""The pure parts of the leases: grant sizes, the trust rule, the timing wheel and the book,
driven by a fake clock (their Redis side is tests/integration/test_leases.py)."""

from __future__ import annotations

from app.adapters.redis.leases.book import LeaseBook
from app.adapters.redis.leases.pacing import Budget, Lease, Pacing, trusted
from app.adapters.redis.leases.wheel import TimingWheel
from tests.clock import Clock

DEFAULTS = Pacing(seconds=5.0, max_tokens=32, budget=Budget(rate=100, window=60))


def test_a_process_holds_at_most_what_the_bucket_refills_in_two_leases() -> None:
    assert DEFAULTS.max_tokens == 17  # 100 a minute, 5 s leases: ceil(100 * 10 / 60)
    assert Pacing(seconds=5.0, max_tokens=4, budget=Budget(100, 60)).max_tokens == 4
    assert Pacing(seconds=0.1, max_tokens=32, budget=Budget(1, 60)).max_tokens == 1


def test_a_user_first_seen_gets_its_own_token_or_for_a_list_read_the_most_a_process_holds() -> None:
    assert DEFAULTS.first(own=True, eager=False) == 1
    assert DEFAULTS.first(own=True, eager=True) == 17
    assert DEFAULTS.first(own=False, eager=True) == 0


def test_spare_tokens_cover_two_leases_at_the_users_pace() -> None:
    busy = Lease(ends=105.0, since=70.0, count=60.0)  # 2 requests a second over 30 s

    assert DEFAULTS.top_up(busy, 100.0, at_least=1) == 1 + 17  # capped: 2/s x 10 s = 20
    slower = Lease(ends=105.0, since=70.0, count=15.0)  # 0.5 a second
    assert DEFAULTS.top_up(slower, 100.0, at_least=1) == 1 + 5


def test_a_user_who_comes_less_than_twice_a_lease_holds_no_spare_tokens() -> None:
    rare = Lease(ends=105.0, since=70.0, count=9.0)  # 0.3 a second: 1.5 a lease

    assert not DEFAULTS.keeps_spare(rare.pace(100.0))
    assert DEFAULTS.top_up(rare, 100.0, at_least=1) == 1
    assert DEFAULTS.low_water(rare.pace(100.0)) == 0


def test_no_top_up_while_half_the_spare_tokens_are_left_unless_a_call_goes_anyway() -> None:
    lease = Lease(ends=105.0, since=70.0, count=15.0, spare=3)  # needs 5, holds 3

    assert DEFAULTS.top_up(lease, 100.0) == 0
    assert DEFAULTS.top_up(lease, 100.0, calling=True) == 2
    lease.spare = 2
    assert DEFAULTS.top_up(lease, 100.0) == 3


def test_spare_tokens_of_an_ended_lease_count_as_none() -> None:
    lease = Lease(ends=99.0, since=70.0, count=15.0, spare=5)

    assert DEFAULTS.top_up(lease, 100.0) == 5


def test_the_pace_forgets_old_requests_by_halves() -> None:
    lease = Lease(ends=0.0, since=0.0, count=60.0)

    assert lease.pace(30.0) == 2.0
    assert lease.pace(31.0) == 30.0 / 15.0  # halved, over the last 15 s
    assert lease.since == 16.0


def test_a_read_lease_is_trusted_only_when_no_write_was_heard_of_since_the_call_began() -> None:
    assert trusted(lease_ms=5000, generation=3, revoked_at=None, asked_at=10.0)
    assert trusted(lease_ms=5000, generation=3, revoked_at=9.0, asked_at=10.0)
    assert not trusted(lease_ms=5000, generation=3, revoked_at=10.5, asked_at=10.0)
    assert not trusted(lease_ms=0, generation=3, revoked_at=None, asked_at=10.0)
    assert not trusted(lease_ms=5000, generation=None, revoked_at=None, asked_at=10.0)


def test_the_wheel_finds_ended_and_soon_ending_leases_and_skips_moved_ones() -> None:
    wheel = TimingWheel(0.5)
    ends = {"ended": 10.2, "soon": 10.9, "later": 20.0, "moved": 30.0}
    wheel.add("ended", 10.2)
    wheel.add("soon", 10.9)
    wheel.add("later", 20.0)
    wheel.add("moved", 10.6)  # its lease was renewed since: it now ends at 30

    ended, soon = wheel.sweep(10.4, ends.get)

    assert ended == ["ended"] and soon == ["soon"]
    assert wheel.sweep(20.1, ends.get) == (["soon", "later"], [])  # not renewed: both ended


def test_a_lease_ending_before_the_next_tick_is_looked_at_again_then() -> None:
    wheel = TimingWheel(0.5)
    ends = {"u": 10.4}
    wheel.add("u", 10.4)

    assert wheel.sweep(10.1, ends.get) == ([], [])
    assert wheel.sweep(10.6, ends.get) == (["u"], [])


def book(clock: Clock) -> LeaseBook:
    return LeaseBook(DEFAULTS, clock)


def test_spare_tokens_are_spent_one_a_request_until_the_lease_ends() -> None:
    clock = Clock(100.0)
    leases = book(clock)
    leases.granted("u", asked_at=100.0, tokens=4, own=True, left=50, generation=None, lease_ms=0)

    assert [leases.take_token("u") is not None for _ in range(4)] == [True, True, True, False]
    leases.granted("u", asked_at=100.0, tokens=2, own=False, left=40, generation=None, lease_ms=0)
    lease = leases.take_token("u")
    assert lease is not None and leases.spare_left(lease) == 41
    clock.now = 105.1  # the lease (5 s) is over: its last token is not spent
    assert leases.take_token("u") is None


def test_a_lapsed_lease_gives_its_spare_tokens_back_once() -> None:
    clock = Clock(100.0)
    leases = book(clock)
    leases.granted("u", asked_at=100.0, tokens=6, own=True, left=50, generation=None, lease_ms=0)
    leases.take_token("u")

    clock.now = 105.6
    leases.due()

    assert leases.take_refunds() == {"u": 4}
    assert leases.take_refunds() == {}


def test_a_read_lease_answers_its_generation_until_a_write_drops_it() -> None:
    clock = Clock(100.0)
    leases = book(clock)
    leases.granted("u", asked_at=100.0, tokens=1, own=True, left=0, generation=7, lease_ms=5000)

    assert leases.read_generation("u") == 7
    leases.drop("u")
    assert leases.read_generation("u") is None
    clock.now = 100.5  # a grant to a call begun before the write is not trusted
    leases.granted("u", asked_at=100.0, tokens=0, own=False, left=0, generation=8, lease_ms=5000)
    assert leases.read_generation("u") is None


def test_spare_tokens_handed_out_later_do_not_lengthen_the_read_lease() -> None:
    clock = Clock(100.0)
    leases = book(clock)
    leases.granted("u", asked_at=100.0, tokens=1, own=True, left=0, generation=7, lease_ms=5000)
    clock.now = 104.0  # a top-up of tokens only: no read lease asked for, none recorded
    leases.granted("u", asked_at=104.0, tokens=5, own=False, left=0, generation=7, lease_ms=0)

    clock.now = 105.5
    assert leases.take_token("u") is not None  # the tokens run until 109
    assert leases.read_generation("u") is None  # the read lease Redis knows of ended at 105


def test_a_served_read_lease_is_due_for_renewal_before_it_ends_an_unserved_one_lapses() -> None:
    clock = Clock(100.0)
    leases = book(clock)
    for user in ("served", "idle"):
        leases.granted(user, asked_at=100.0, tokens=1, own=True, left=0, generation=1, lease_ms=5000)
    leases.served("served")

    clock.now = 104.1
    due = leases.due()

    assert list(due) == ["served"]
    assert leases.renewing(due["served"], read_lease_ms=5000) == (0, 5000)
    clock.now = 105.1
    leases.due()
    assert leases.read_generation("idle") is None


def test_users_whose_spare_tokens_run_low_are_topped_up_in_the_background() -> None:
    clock = Clock(100.0)
    leases = book(clock)
    for second in range(30):  # two requests a second: the pace that keeps spare tokens
        clock.now = 100.0 + second
        leases.granted("u", asked_at=clock.now, tokens=3, own=True, left=50, generation=None, lease_ms=0)
        leases.take_token("u")
    while leases.take_token("u") is not None:
        pass

    assert "u" in leases.due()


def test_leases_off_take_exactly_the_requests_own_token() -> None:
    off = LeaseBook(Pacing(seconds=0, max_tokens=32, budget=Budget(100, 60)), Clock(0.0))

    assert off.want("u", own=True, eager=True) == 1 and off.want("u", own=False) == 0
    off.granted("u", asked_at=0.0, tokens=5, own=True, left=0, generation=1, lease_ms=5000)
    assert off.lease("u") is None


def test_users_unseen_for_a_minute_are_forgotten_and_start_again_as_first_seen() -> None:
    clock = Clock(100.0)
    leases = book(clock)
    leases.granted("u", asked_at=100.0, tokens=3, own=True, left=0, generation=None, lease_ms=0)
    assert leases.want("u", own=True, eager=True) != 17

    clock.now = 166.0
    list(leases.forget())

    assert leases.want("u", own=True, eager=True) == 17
