"""Who takes part: per chat a model, talkers (who post and also watch), silent watchers, ban
targets (who post but never watch, so a ban never cuts a socket whose events we check), and
showgoers (who watch, ask for private shows, spy and buy from the tip menu; the last of them has
little money, so its shows end `insufficient_funds`)."""

from dataclasses import dataclass, field

from databases import Database

from chatledger.platform.config import Settings
from tests.helpers.people import People, Someone


@dataclass
class Chat:
    model: Someone
    talkers: list[Someone] = field(default_factory=list)
    watchers: list[Someone] = field(default_factory=list)
    targets: list[Someone] = field(default_factory=list)
    showgoers: list[Someone] = field(default_factory=list)

    @property
    def uuid(self) -> str:
        return self.model.uuid

    @property
    def viewers(self) -> list[Someone]:
        """Everyone with a websocket in this chat: talkers, watchers, showgoers and the model."""
        return [self.model, *self.talkers, *self.watchers, *self.showgoers]


async def cast(db: Database, settings: Settings, chats: int, viewers_per_chat: int,
               talkers: int = 6, targets: int = 2, showgoers: int = 4) -> list[Chat]:
    people = People(db, settings)
    cast: list[Chat] = []
    for c in range(chats):
        model = await people.model(f"Model{c}")
        chat = Chat(model)
        for n in range(talkers):
            chat.talkers.append(await people.client(model, f"Talker{c}.{n}", money="500"))
        for n in range(showgoers):
            money = "300" if n < showgoers - 1 else "9"
            chat.showgoers.append(await people.client(model, f"Showgoer{c}.{n}", money=money))
        for n in range(viewers_per_chat - talkers - showgoers - 1):
            chat.watchers.append(await people.client(model, f"Watcher{c}.{n}"))
        for n in range(targets):
            chat.targets.append(await people.client(model, f"Target{c}.{n}", money="100"))
        cast.append(chat)
    return cast
