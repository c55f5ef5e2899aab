"""The tests' port picker: processes launched together must not be given the same port."""

from tests.helpers.service import free_port


def test_free_port_never_hands_out_a_port_twice() -> None:
    ports = [free_port() for _ in range(2000)]  # bind(0) alone repeated ~130 of 2,000 here
    assert len(set(ports)) == len(ports)
