// Private and spy shows (DESIGN §10): the model's rates and answers, a viewer's request, the
// running show's minutes and charge, spying, and what everyone else sees ("a private show is on").
// Loaded before app.js; uses its helpers ($, el, api, post, state) only when called.
//
// The card starts from GET /chat/show (as of a seq) and follows the events after it. Where the
// figures come from: a minute is counted as begun when the ledger placed its hold
// (show_started begins minute 1, each later hold_placed of the show begins one more), so "minutes
// begun" and "rate × minutes begun" are the ledger's own count, a moment after each boundary. The
// elapsed time is this page's clock, an estimate only. The bill is show_charged (spy_ended for a
// spy): the page shows it as it arrives and never computes it.
"use strict";

const HOLD_TYPES = new Set(["hold_placed", "hold_captured", "hold_voided", "hold_expired"]);
const END_REASONS = {
  client: "the viewer ended it",
  model: "the model ended it",
  declined: "declined",
  insufficient_funds: "not enough money for the next minute",
  disconnected: "the viewer left",
  show_ended: "the show ended",
};

const shows = {
  seq: 0, // the rates and shows below are as of this seq (GET /chat/show)
  privateRate: null, // "2.00" (GET /chat/show, then settings_changed); null: not known
  spyRate: null,
  running: null, // the id of the chat's running show (public: show_started, show_ended)
  show: null, // the show this page takes part in (as its client or the model): {id, status, ...}
  spying: null, // this viewer's spying: {show, rate, since, minutes}
  spies: new Map(), // the model's page: spy uuid -> {name, rate, minutes}
  bill: null, // how this page's last show or spying ended, as a sentence
  timer: null,
};

function setUpShows() {
  const isModel = state.me.role === "model";
  $("show-rates-form").hidden = !isModel;
  $("show-rates-form").addEventListener("submit", sendRates);
  $("show-request").addEventListener("click", () =>
    post("/chat/show/request", {}, [], "Show not requested"));
  $("show-accept").addEventListener("click", () => showAction("accept", "Not accepted"));
  $("show-decline").addEventListener("click", () => showAction("decline", "Not declined"));
  $("show-end").addEventListener("click", () => showAction("end", "Not ended"));
  $("show-spy").addEventListener("click", () =>
    post("/chat/show/spy", { show: shows.running }, [], "Not spying"));
  $("show-spy-end").addEventListener("click", () =>
    post("/chat/show/spy/end", { show: shows.spying?.show }, [], "Still spying"));
  shows.timer = setInterval(renderShowClock, 1000);
  renderShows();
}

// GET /chat/show: the rates and the show as the caller may see them, exactly as of `seq`; only
// events after it change them (trackShow), so no minute is counted twice or missed. Without it
// (an error) the page builds all of it from the events it sees.
async function loadShow() {
  const result = await api("GET", "/chat/show").catch(() => null);
  if (!result || !result.ok) return;
  const now = result.body;
  shows.seq = now.seq;
  shows.privateRate = now.private_rate;
  shows.spyRate = now.spy_rate;
  shows.running = now.running;
  const show = now.show;
  shows.show = show && {
    id: show.show, client: show.client.uuid, clientName: show.client.name, rate: show.rate,
    status: show.status, since: show.started_at, minutes: show.minutes, ended: null,
  };
  const spying = now.spying;
  shows.spying = spying && {
    show: spying.show, rate: spying.rate, since: spying.started_at, minutes: spying.minutes,
  };
  for (const spy of now.spies) {
    shows.spies.set(spy.spy.uuid, { name: spy.spy.name, rate: spy.rate, minutes: spy.minutes });
  }
  renderShows();
}

function showAction(verb, refused) {
  return post(`/chat/show/${verb}`, { show: shows.show?.id }, [], refused);
}

function sendRates(submit) {
  submit.preventDefault();
  const body = {}; // any subset: a field left empty keeps its value
  for (const [field, input] of [["private_rate", "private-rate"], ["spy_rate", "spy-rate"]]) {
    const value = $(input).value.trim();
    if (value) body[field] = value;
  }
  return post("/chat/settings", body, [$("private-rate"), $("spy-rate")], "Rates not set");
}

// The money of a hold event is the caller's: its client's, and every hold of the chat is the
// model's business (a capture pays the model).
function holdIsMine(event) {
  if (!HOLD_TYPES.has(event.type)) return false;
  return state.me.role === "model" || event.from?.uuid === state.me.uuid;
}

// Every show and hold event this page may see, in seq order, after the snapshot's seq.
function trackShow(event) {
  const handler = SHOW_HANDLERS[event.type];
  if (!handler || event.seq <= shows.seq) return;
  handler(event);
  renderShows();
}

const SHOW_HANDLERS = {
  settings_changed(event) { // it carries every setting after the change
    if (event.private_rate !== undefined) shows.privateRate = event.private_rate;
    if (event.spy_rate !== undefined) shows.spyRate = event.spy_rate;
  },
  show_requested(event) { // only the client and the model see it
    shows.show = {
      id: event.show, client: event.from.uuid, clientName: event.from.name, rate: event.rate,
      status: "requested", since: null, minutes: 0, ended: null,
    };
    if (event.from.uuid === state.me.uuid) shows.bill = null;
  },
  show_started(event) {
    shows.running = event.show;
    const mine = shows.show;
    if (mine && mine.id === event.show) {
      Object.assign(mine, { status: "running", since: event.created_at, minutes: 1 });
    }
  },
  hold_placed(event) { // a show's or a spy's next minute begins
    if (!event.show) return;
    if (event.spy) {
      const spying = event.spy === state.me.uuid ? shows.spying : shows.spies.get(event.spy);
      if (spying) spying.minutes += 1;
    } else if (shows.show?.id === event.show && shows.show.status === "running") {
      shows.show.minutes += 1;
    }
  },
  show_ended(event) {
    if (shows.running === event.show) shows.running = null;
    shows.spies.clear();
    const mine = shows.show;
    if (!mine || mine.id !== event.show) return;
    if (event.reason === "declined") { // declined or unanswered for 60 s: the hold was voided
      shows.bill = mine.client === state.me.uuid
        ? "Your request was declined (or not answered in time); the money on hold is yours again."
        : `${mine.clientName}'s request was declined; nothing was charged.`;
      shows.show = null;
    } else {
      Object.assign(mine, { status: "ended", ended: event.reason });
    }
  },
  show_charged(event) {
    const mine = shows.show;
    const reason = END_REASONS[mine?.id === event.show ? mine.ended : ""] || "over";
    shows.bill = `Show over (${reason}): ${minutesText(event.minutes)}, ${event.charged} charged.`;
    if (mine?.id === event.show) shows.show = null;
  },
  spy_started(event) {
    if (event.spy === state.me.uuid) {
      shows.spying = { show: event.show, rate: event.rate, since: event.created_at, minutes: 0 };
      shows.bill = null;
    } else if (state.me.role === "model") {
      shows.spies.set(event.spy, { name: event.from.name, rate: event.rate, minutes: 0 });
    }
  },
  spy_ended(event) {
    shows.spies.delete(event.spy);
    if (event.spy !== state.me.uuid) return;
    shows.spying = null;
    shows.bill = `Spying over (${END_REASONS[event.reason] || event.reason}): `
      + `${minutesText(event.minutes)}, ${event.charged} charged.`;
  },
};

function minutesText(minutes) {
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}

function timesRate(rate, minutes) {
  return ((Math.round(Number(rate) * 100) * minutes) / 100).toFixed(2);
}

function rateText(rate) {
  return rate === null ? "" : ` · ${rate}/min`;
}

function offered(rate) {
  return rate === null || Number(rate) > 0; // unknown: offer it, and let the server answer
}

// ---- rendering -------------------------------------------------------------------------------

function renderShows() {
  const me = state.me;
  if (!me) return;
  const mine = shows.show;
  const spying = shows.spying;
  const isClient = me.role === "client";
  const myShow = mine && (mine.client === me.uuid || me.role === "model");
  let status = "No private show now.";
  if (myShow && mine.status === "requested") {
    status = mine.client === me.uuid
      ? `You asked ${state.modelName} for a private show (${mine.rate}/min); `
        + `${mine.rate} is on hold until ${state.modelName} answers.`
      : `${mine.clientName} asks for a private show (${mine.rate}/min).`;
  } else if (myShow && mine.status === "running") {
    status = mine.client === me.uuid
      ? `Private show with ${state.modelName} (${mine.rate}/min).`
      : `Private show with ${mine.clientName} (${mine.rate}/min).`;
  } else if (myShow) {
    status = `The show is over (${END_REASONS[mine.ended] || mine.ended}); waiting for the bill.`;
  } else if (spying) {
    status = `You are spying on the private show (${spying.rate}/min).`;
  } else if (shows.running) {
    status = "A private show is on.";
  }
  $("show-status").textContent = status;

  const counting = myShow && mine.status === "running" ? mine : spying;
  const figures = $("show-figures");
  figures.hidden = !counting;
  if (counting) {
    figures.dataset.minutes = String(counting.minutes);
    figures.dataset.charged = timesRate(counting.rate, counting.minutes);
    figures.textContent = `${minutesText(counting.minutes)} begun · `
      + `${figures.dataset.charged} so far (the ledger's count; the bill at the end is final)`;
  }
  renderShowClock();

  const busy = Boolean(mine || shows.running);
  setShown("show-request", isClient && !busy && !spying && offered(shows.privateRate),
    `Request private show${rateText(shows.privateRate)}`);
  setShown("show-accept", me.role === "model" && mine?.status === "requested");
  setShown("show-decline", me.role === "model" && mine?.status === "requested");
  // A request is the model's to accept or decline, and its client's to withdraw.
  setShown("show-end", Boolean(myShow) && (mine.status === "running"
    || (mine.status === "requested" && isClient)),
    mine?.status === "requested" ? "Withdraw request" : "End show");
  setShown("show-spy", isClient && Boolean(shows.running) && !myShow && !spying
    && offered(shows.spyRate), `Spy${rateText(shows.spyRate)}`);
  setShown("show-spy-end", Boolean(spying));
  renderSpies();
  renderRatesNow();
  const bill = $("show-bill");
  bill.hidden = !shows.bill;
  bill.textContent = shows.bill || "";
}

function setShown(id, shown, label) {
  const button = $(id);
  button.hidden = !shown;
  if (label !== undefined) button.textContent = label;
}

function renderSpies() {
  const list = $("show-spies");
  list.replaceChildren(...[...shows.spies.entries()].map(([uuid, spy]) => {
    const item = el("li", "show-spy",
      `${spy.name} spying · ${minutesText(spy.minutes)} · ${timesRate(spy.rate, spy.minutes)}`);
    item.dataset.uuid = uuid;
    return item;
  }));
  list.hidden = shows.spies.size === 0;
}

function renderRatesNow() {
  const known = (rate) => (rate === null ? "not known yet" : Number(rate) > 0 ? `${rate}/min` : "off");
  $("show-rates-now").textContent =
    `Private ${known(shows.privateRate)} · spy ${known(shows.spyRate)}`;
}

// Elapsed time of the running show (or spying) by this page's clock: an estimate, said so.
function renderShowClock() {
  const mine = shows.show;
  const since = mine?.status === "running" ? mine.since : shows.spying?.since;
  const clock = $("show-clock");
  clock.hidden = !since;
  if (!since) return;
  const seconds = Math.max(0, Math.floor((Date.now() - new Date(since).getTime()) / 1000));
  const text = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  clock.textContent = `${text} elapsed by this page's clock (an estimate)`;
}

// ---- the chat's lines ------------------------------------------------------------------------

function showEventText(event) {
  const who = event.from?.uuid === state.me.uuid ? "You" : event.from?.name || "someone";
  switch (event.type) {
    case "show_requested":
      return `${who} asked for a private show at ${event.rate}/min`;
    case "show_started":
      return "A private show started";
    case "show_ended": // public, and a declined request never started
      return event.reason === "declined"
        ? "A request for a private show was declined"
        : `The private show ended: ${END_REASONS[event.reason] || event.reason}`;
    case "show_charged":
      return `Private show bill: ${minutesText(event.minutes)}, ${event.charged} charged`;
    case "spy_started":
      return `${who} started spying at ${event.rate}/min`;
    case "spy_ended":
      return `${who} stopped spying: ${minutesText(event.minutes)}, ${event.charged} charged`;
    default:
      return null; // hold events show as the balance, not as lines
  }
}

// A message said during a show reaches only the show's people: say so rather than "private".
function privateTagText(event) {
  if (Array.isArray(event.audience)) return "private show";
  return `private${event.to ? ` to ${nameOf(event.to)}` : ""}`;
}

// The show rates a settings_changed changed, for its chat line (`before`: the previous one seen).
function rateChanges(before, event) {
  const changes = [];
  for (const [field, what] of [["private_rate", "a private show"], ["spy_rate", "spying"]]) {
    const rate = event[field];
    if (rate === undefined || (before && before[field] === rate)) continue;
    if (Number(rate) > 0) changes.push(`${what} costs ${rate}/min`);
    else if (before) changes.push(`no ${what} any more`);
  }
  return changes;
}
