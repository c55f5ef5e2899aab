"""`random_uuid`: the text of a version-4 UUID, never repeated, not even across a fork."""

import os
import uuid

from chatledger.platform.random_ids import random_uuid


def test_ids_are_version_4_uuids_in_canonical_text() -> None:
    ids = [random_uuid() for _ in range(5000)]  # past one 4 KiB read of random bytes
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_a_forked_child_does_not_reuse_its_parent_s_random_bytes() -> None:
    random_uuid()  # the parent now holds unread bytes
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(writer, random_uuid().encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    from_child = os.read(reader, 64).decode()
    os.close(reader)
    assert from_child != random_uuid()
