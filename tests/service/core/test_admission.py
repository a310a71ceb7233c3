"""The in-flight cap shared by HTTP and gRPC (core/admission.py)."""

from __future__ import annotations

from service.core.admission import Admission
from service.core.errors import Overloaded, retry_after_seconds, status_code_for


class Rejections:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_try_enter_takes_slots_up_to_the_limit_then_counts_each_rejection():
    rejected = Rejections()
    admission = Admission(2, rejected)
    assert (admission.try_enter(), admission.try_enter()) == (True, True)
    assert (admission.inflight, rejected.count) == (2, 0)
    assert admission.try_enter() is False
    assert admission.try_enter() is False
    assert (admission.inflight, rejected.count) == (2, 2)  # a rejection takes no slot


def test_leave_frees_a_slot_for_the_next_request():
    rejected = Rejections()
    admission = Admission(1, rejected)
    assert admission.try_enter() is True
    assert admission.try_enter() is False
    admission.leave()
    assert admission.inflight == 0
    assert admission.try_enter() is True
    assert (admission.inflight, rejected.count) == (1, 1)


def test_full_follows_the_count():
    admission = Admission(2)
    assert admission.full is False
    admission.take()
    assert admission.full is False
    admission.take()
    assert admission.full is True
    admission.leave()
    assert admission.full is False


def test_take_does_not_check_the_limit_nor_count_a_rejection():
    rejected = Rejections()
    admission = Admission(1, rejected)
    admission.take()
    admission.take()  # the caller checked `full` itself; take trusts it
    assert (admission.inflight, admission.full, rejected.count) == (2, True, 0)


def test_the_default_on_reject_does_nothing():
    admission = Admission(0)
    assert admission.full is True
    assert admission.try_enter() is False
    assert admission.inflight == 0


def test_the_error_is_a_503_overload_with_retry_after_naming_the_limit():
    admission = Admission(64)
    error = admission.error()
    assert isinstance(error, Overloaded)
    assert error.message == admission.message == (
        "server is at its limit of 64 concurrent inference requests; retry later"
    )
    assert status_code_for(error) == 503
    assert retry_after_seconds(error) == "1"


def test_the_message_follows_a_changed_limit():
    admission = Admission(4)
    admission.limit = 8
    assert admission.message == "server is at its limit of 8 concurrent inference requests; retry later"
    assert admission.error() is not admission.error()  # a fresh exception per refusal
