from chatledger.ledger.known_people import Known, KnownPeople


def test_the_oldest_is_forgotten_past_the_limit() -> None:
    known = KnownPeople(limit=2)
    for n in range(3):
        known.keep(f"u{n}", Known(n, f"name{n}", "client"))
    assert known.get("u0") is None
    assert known.get("u1") == Known(1, "name1", "client")
    assert known.get("u2") == Known(2, "name2", "client")
