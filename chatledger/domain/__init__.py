"""The rules of chatledger, pure: no I/O, nothing of chatledger outside this package.

One name per concept, here and in every layer above (the wire format of DESIGN §4-§5 and the
brief's table names are the outside world's and stay as they are):

- **person**: anyone with an account; a **model** (owns a chat; the brief's table `users`,
  `connections.type = 'user'`) or a **client** (a viewer; table `clients`). `Actor` is the person
  an event is from.
- **chat**: a model's room, named by the model's uuid (`chat` on the wire and in commands).
- **stream**: where an event is appended, with its `seq`: a chat's stream (its uuid is the
  chat's) or a person's account stream for money in and out (deposits, payouts). Only the ledger
  and the event rows speak of streams; everything that means a chat says `chat`.
- **amount**: money inside the program (a Decimal); it is `sum` only on the wire and in request
  bodies, as the brief spells it, and becomes a string in exactly one place (`wire.py`).
- **command** (what someone asks) → **event** (a past-tense fact) → **state** (the fold of
  events by `evolve`); the **decider** turns a command and the state into events or a refusal.
"""
