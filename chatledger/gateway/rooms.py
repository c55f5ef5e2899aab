"""Rooms: who is connected to which chat, and who of them an event reaches. Pure, no I/O.

A room drops what it has already forwarded by seq (Kafka delivers at least once, in seq order per
chat because the topic is keyed by chat), then picks the recipients with THE visibility rule.
A public event is forwarded to every member without asking per member; a private one is checked
only against the few people who could see it (sender, model, `to`), so a room of thousands costs
one visibility decision per event, not one per socket.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from chatledger.domain.visibility import privy, visible_to
from chatledger.gateway.cork import Cork

# Nobody's uuid: if an outsider may see an event, every member of the room may.
_STRANGER = ""
# How a banned person's sockets in the chat are closed (DESIGN §9): 4000-4999 is the range RFC
# 6455 leaves to applications, and 4003 mirrors HTTP's 403.
BANNED_CLOSE = (4003, "banned")


class Member(Protocol):
    """A socket in a room; `offer` never blocks (a member that cannot keep up removes itself)."""

    @property
    def person(self) -> str: ...

    def offer(self, seq: int, frame: bytes) -> bool: ...

    def send(self, frame: bytes) -> None:
        """A frame outside the event stream (no seq): `presence`."""
        ...

    def shut(self, code: int, reason: str) -> None:
        """Leave the room now and close the socket soon (never blocks)."""
        ...


@dataclass
class Room:
    chat: str
    last_seq: int | None = None
    # Per person, their sockets here: a list, since nearly everyone has one (a set costs an
    # idle socket ~150 bytes more, and a person's few sockets are searched in no time).
    members: dict[str, list[Member]] = field(default_factory=dict)
    # Joined since the room last heard its presence count: owed the current one.
    unannounced: set[Member] = field(default_factory=set)

    def accept(self, seq: int) -> bool:
        """True the first time a seq newer than everything forwarded so far arrives."""
        if self.last_seq is not None and seq <= self.last_seq:
            return False
        self.last_seq = seq
        return True

    def recipients(self, event: Mapping[str, Any]) -> list[Member]:
        """A new list (the caller may change the room while it goes through it)."""
        if visible_to(event, _STRANGER, self.chat):
            return self.every_member()
        return [
            member
            for person in privy(event, self.chat)
            if isinstance(person, str)
            and person in self.members
            and visible_to(event, person, self.chat)
            for member in self.members[person]
        ]

    def every_member(self) -> list[Member]:
        # One comprehension, not nested generators: this runs per event over the whole room.
        return [member for sockets in self.members.values() for member in sockets]

    def viewers(self) -> set[str]:
        """The distinct people watching, the model (whose uuid is the chat's) not counted."""
        return set(self.members) - {self.chat}

    def __len__(self) -> int:
        return sum(len(sockets) for sockets in self.members.values())


class Rooms:
    """One room per chat with at least one member; an empty room is forgotten."""

    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}
        # Held by the feed while it dispatches a batch: each member's frames of the batch leave
        # as one write (cork.py).
        self.cork = Cork()

    def join(self, chat: str, member: Member) -> Room:
        room = self._rooms.get(chat)
        if room is None:
            room = self._rooms[chat] = Room(chat)
        sockets = room.members.get(member.person)
        if sockets is None:
            room.members[member.person] = [member]
        elif member not in sockets:
            sockets.append(member)
        room.unannounced.add(member)
        return room

    def leave(self, chat: str, member: Member) -> None:
        room = self._rooms.get(chat)
        if room is None:
            return
        room.unannounced.discard(member)
        sockets = room.members.get(member.person)
        if sockets is not None and member in sockets:
            sockets.remove(member)
            if not sockets:
                del room.members[member.person]
        if not room.members:
            del self._rooms[chat]

    def get(self, chat: str) -> Room | None:
        return self._rooms.get(chat)

    def shut(self, chat: str, person: str, code: int, reason: str) -> int:
        """Close every socket of `person` in `chat`; how many there were."""
        room = self._rooms.get(chat)
        sockets = list(room.members.get(person, ())) if room is not None else []
        for member in sockets:
            member.shut(code, reason)
        return len(sockets)

    def viewers(self) -> dict[str, set[str]]:
        """Per chat with a room here, the viewers this process holds."""
        return {chat: room.viewers() for chat, room in self._rooms.items()}

    def __len__(self) -> int:
        return len(self._rooms)
