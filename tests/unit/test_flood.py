from chatledger.gateway.flood import FrameBudget


def test_a_budget_allows_its_frames_per_second_then_refuses() -> None:
    budget = FrameBudget(3)
    assert [budget.allow(10.0 + i / 10) for i in range(5)] == [True, True, True, False, False]


def test_a_new_second_starts_a_new_budget() -> None:
    budget = FrameBudget(1)
    assert budget.allow(5.1) and not budget.allow(5.9)
    assert budget.allow(6.0) and not budget.allow(6.5)
