// Paid pins and the toy queue (DESIGN §11): the pinned message on top with its countdown and
// queue, the toy's turn playing and its queue, the model's tiers and levels, a viewer's Pin form.
// Loaded before app.js; uses its helpers ($, el, api, post, state) only when called.
// What is shown comes from GET /chat/pins and /chat/toy, read again on every pin or toy event:
// the ledger writes those rows in the transaction that appends the event, so they are current
// by the time the event arrives, and a page never has to replay the queue rules itself.
"use strict";

const EXTRAS_TYPES = new Set(["message_pinned", "pin_rejected", "pin_started", "pin_expired",
  "pin_removed", "toy_queued", "toy_started", "toy_finished", "toy_removed"]);
const extras = { pin: null, pins: [], toy: null, turns: [], busy: false, again: false };

function setUpExtras() {
  $("extras-card").hidden = state.me.role !== "model";
  $("pin-card").hidden = state.me.role !== "client";
  $("pin-form").addEventListener("submit", sendPin);
  $("extras-form").addEventListener("submit", sendExtrasSettings);
  refreshExtras();
  setInterval(renderCountdowns, 250);
}

function isExtrasEvent(event) {
  return EXTRAS_TYPES.has(event.type) || event.type === "settings_changed";
}

function extrasChanged(event) {
  if (event.type === "settings_changed") fillExtrasEditor(event.pin_tiers, event.toy_levels);
  else refreshExtras();
}

// One read at a time, then one more if events came meanwhile (like the leaderboard).
async function refreshExtras() {
  if (extras.busy) {
    extras.again = true;
    return;
  }
  extras.busy = true;
  try {
    do {
      extras.again = false;
      const [pins, toy] = await Promise.all([api("GET", "/chat/pins"), api("GET", "/chat/toy")]);
      if (pins.ok) [extras.pin, extras.pins] = [pins.body.current, pins.body.queue];
      if (toy.ok) [extras.toy, extras.turns] = [toy.body.playing, toy.body.queue];
      if (toy.ok && !$("toy-levels").value) fillExtrasEditor(null, toy.body.levels);
      renderExtras();
    } while (extras.again);
  } finally {
    extras.busy = false;
  }
}

function renderExtras() {
  const pinned = $("pinned");
  pinned.hidden = !extras.pin;
  if (extras.pin) {
    $("pin-from").textContent = extras.pin.from.name;
    $("pin-sum").textContent = extras.pin.sum;
    $("pin-text").textContent = extras.pin.message;
  }
  const queue = $("pin-queue");
  queue.replaceChildren(...extras.pins.map((p) => el("li", "pin-next", `${p.sum} · ${p.from.name}: ${p.message}`)));
  queue.hidden = extras.pins.length === 0;
  $("toy-now").textContent = extras.toy
    ? `Level ${extras.toy.level} for ${extras.toy.from.name}`
    : "The toy is resting.";
  $("toy-now").dataset.level = extras.toy ? String(extras.toy.level) : "";
  $("toy-queue").replaceChildren(...extras.turns.map((t) => el("li", "toy-next", `Level ${t.level} · ${t.seconds}s · ${t.from.name}`)));
  renderCountdowns();
}

function secondsLeft(endsAt) {
  return Math.max(0, Math.ceil((new Date(endsAt).getTime() - Date.now()) / 1000));
}

function renderCountdowns() {
  if (extras.pin) $("pin-countdown").textContent = `${secondsLeft(extras.pin.ends_at)}s`;
  $("toy-countdown").textContent = extras.toy ? `${secondsLeft(extras.toy.ends_at)}s left` : "";
}

function sendPin(submit) {
  submit.preventDefault();
  const body = { message: $("pin-message").value, sum: $("pin-sum-input").value.trim() };
  return post("/chat/pin", body, [$("pin-message"), $("pin-sum-input")], "Pin refused");
}

// The editor's text: tiers as "min:seconds, ...", levels as "min:level:seconds, ...".
// Not while the model is editing it (focus in the form): what it types is never overwritten.
function fillExtrasEditor(tiers, levels) {
  if (state.me.role !== "model" || $("extras-form").contains(document.activeElement)) return;
  if (tiers) $("pin-tiers").value = tiers.map((t) => `${t.min}:${t.seconds}`).join(", ");
  if (levels) $("toy-levels").value = levels.map((t) => `${t.min}:${t.level}:${t.seconds}`).join(", ");
}

function parseEntries(text, names) {
  return text.split(",").map((part) => part.trim()).filter(Boolean).map((part) => {
    const values = part.split(":").map((v) => v.trim());
    const entry = { min: values[0] };
    names.forEach((name, index) => { entry[name] = Number(values[index + 1]); });
    return entry;
  });
}

function sendExtrasSettings(submit) {
  submit.preventDefault();
  const body = {
    pin_tiers: parseEntries($("pin-tiers").value, ["seconds"]),
    toy_levels: parseEntries($("toy-levels").value, ["level", "seconds"]),
  };
  return post("/chat/settings", body, [], "Settings not saved");
}

// The chat line of a pin or toy event (false: not one of them).
function extrasLine(event, who, line) {
  const system = (text) => line.append(el("span", "system", text));
  switch (event.type) {
    case "message_pinned":
      line.append(who, el("span", "amount", `pinned a message for ${event.sum}`), el("span", "text", event.message));
      return true;
    case "pin_rejected":
      line.append(el("span", "amount", `Your pin of ${event.sum} was refused: ${event.reason}`));
      return true;
    case "pin_started":
      system(`${event.from.name}'s message is pinned for ${event.seconds}s`);
      return true;
    case "pin_expired":
      system(`${event.from.name}'s pin expired`);
      return true;
    case "pin_removed":
      system(event.reason === "banned" ? "A pin was removed (ban)" : "A pin was removed");
      return true;
    case "toy_queued":
      line.append(who, el("span", "amount", `queued the toy: level ${event.level} for ${event.seconds}s`));
      return true;
    case "toy_started":
      system(`The toy plays at level ${event.level} for ${event.seconds}s`);
      return true;
    case "toy_finished":
      system("The toy's turn is over");
      return true;
    case "toy_removed":
      system("A toy turn was taken back (refunded)");
      return true;
    default:
      return false;
  }
}
