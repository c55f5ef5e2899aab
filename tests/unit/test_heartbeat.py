"""The gateway's heartbeat, the pure part: who is pinged, who is cut off, and when."""

from dataclasses import dataclass, field

from chatledger.gateway.heartbeat import PING, beat

HEARTBEAT = 20.0


@dataclass(eq=False)
class Peer:
    heard: float = 0.0
    pinged: float = 0.0
    pings: int = 0
    cut: bool = False
    sockets: set["Peer"] = field(default_factory=set)

    def ping(self) -> None:
        self.pings += 1

    def lost(self) -> None:
        self.cut = True
        self.sockets.discard(self)  # as a socket leaves the gateway's set


def test_a_socket_is_pinged_once_it_has_been_quiet_for_a_heartbeat() -> None:
    peer = Peer(heard=100.0)
    beat([peer], 100.0 + HEARTBEAT - 0.1, HEARTBEAT)
    assert (peer.pings, peer.pinged) == (0, 0.0)
    beat([peer], 100.0 + HEARTBEAT, HEARTBEAT)
    assert (peer.pings, peer.pinged) == (1, 100.0 + HEARTBEAT)
    beat([peer], 100.0 + HEARTBEAT + 1, HEARTBEAT)
    assert peer.pings == 1 and not peer.cut  # one ping until it is answered


def test_a_socket_silent_half_a_heartbeat_after_its_ping_is_cut_off() -> None:
    sockets: set[Peer] = set()
    peer = Peer(heard=0.0, pinged=50.0, sockets=sockets)
    sockets.add(peer)
    beat(sockets, 50.0 + HEARTBEAT / 2 - 0.1, HEARTBEAT)
    assert not peer.cut
    beat(sockets, 50.0 + HEARTBEAT / 2, HEARTBEAT)
    assert peer.cut and not sockets


def test_an_answer_makes_the_socket_quiet_again_from_then() -> None:
    peer = Peer(heard=0.0)
    beat([peer], HEARTBEAT, HEARTBEAT)
    peer.heard, peer.pinged = HEARTBEAT + 1, 0.0  # what the socket does on any frame
    beat([peer], HEARTBEAT * 1.5 + 1, HEARTBEAT)
    assert not peer.cut and peer.pings == 1
    beat([peer], HEARTBEAT * 2 + 1, HEARTBEAT)
    assert peer.pings == 2


def test_a_socket_not_reading_yet_is_never_pinged() -> None:
    peer = Peer(heard=float("inf"))
    beat([peer], 1e9, HEARTBEAT)
    assert peer.pings == 0 and not peer.cut


def test_the_ping_is_an_empty_unmasked_final_ping_frame() -> None:
    assert PING[0] == 0x89 and PING[1] == 0 and len(PING) == 2
