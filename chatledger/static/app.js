// The chatledger demo page: plain JS, no build step.
// Rule: text from the chat is only ever written with textContent, never parsed as HTML.
"use strict";

const MAX_EVENTS = 500;
const MAX_GOALS = 4;
const CLOSE_BANNED = 4003; // the gateway closes a banned viewer's sockets with it (DESIGN §9)
const MONEY_MOVERS = new Set(["donate", "donate_rejected", "donate_refunded", "message_pinned"]);

const state = {
  token: null,
  me: null, // {uuid, name, role}
  chat: null, // the model's uuid
  modelName: "the model",
  people: new Map(), // uuid -> {uuid, name, role}, for names and the model's private replies
  seen: new Set(), // seqs already shown: history and the websocket overlap by design
  lastSeq: 0,
  stateSeq: 0, // sponsor and goals are known as of this seq; older events do not change them
  goals: new Map(), // goal id -> goal (wire form)
  sponsor: null,
  minDonation: null, // the chat's minimum tip ("5.00"), null when none is known
  settingsSeen: null, // the last settings_changed shown: the next one's line says what changed
  refunded: new Map(), // donation id -> its donate_refunded event (marks the tip, even if later)
  deleted: new Set(), // message ids deleted: never shown, whenever they arrive
  banned: new Set(), // client uuids banned in this chat, as far as this page has seen
  period: "all", // the leaderboard's period
  board: { busy: false, again: false }, // one leaderboard request at a time, then one more
  funds: { busy: false, again: false }, // the same for GET /chat/me: the newest answer shows last
  live: false, // history is in: events from now on refresh the leaderboard
  shutOut: null, // why the server will not let us in ("banned"): no more reconnecting
  socket: null,
  retries: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function claimsOf(token) {
  // Only to know who we are before the first event; the server verifies the token.
  const part = token.split(".")[1] || "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(json);
}

function setStatus(name, text) {
  const status = $("status");
  status.dataset.state = name;
  status.textContent = text || name;
}

function notice(text, kind) {
  const box = $("notice");
  box.hidden = !text;
  box.textContent = text || "";
  box.dataset.kind = kind || "error";
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: {
      Authorization: `Bearer ${state.token}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch (_) {
    data = null;
  }
  return { status: response.status, ok: response.ok, body: data };
}

function failureText(result) {
  const body = result.body || {};
  const reasons = Array.isArray(body.errors) && body.errors.length ? `: ${body.errors.join("; ")}` : "";
  return `${result.status} ${body.message || "request failed"}${reasons}`;
}

// ---- joining ---------------------------------------------------------------------------------

async function loadRoster() {
  try {
    const response = await fetch("/dev/tokens");
    const body = await response.json();
    return { ok: response.ok, body };
  } catch (_) {
    return { ok: false, body: null };
  }
}

function showRoster(roster) {
  const hint = $("join-hint");
  const list = $("roster");
  list.replaceChildren();
  if (!roster.ok) {
    hint.textContent = roster.body && roster.body.message === "not found"
      ? "The demo tokens are only served with CHATLEDGER_DEV=1; join with a token instead."
      : `No demo people: ${(roster.body && roster.body.message) || "the server did not answer"}.`;
    $("token-join").open = true;
    return;
  }
  hint.textContent = `Join ${roster.body.chat.name}'s chat as:`;
  for (const person of roster.body.people) {
    const button = el("button", `join-as ${person.role}`, `${person.name} (${person.role === "model" ? "model" : "viewer"})`);
    button.type = "button";
    button.dataset.name = person.name;
    button.addEventListener("click", () => join(person.token, roster.body));
    list.append(button);
  }
}

function join(token, roster) {
  const claims = claimsOf(token);
  state.token = token;
  state.chat = claims.chat || claims.sub;
  state.me = { uuid: claims.sub, role: claims.role, name: claims.role };
  if (roster) {
    state.modelName = roster.chat.name;
    for (const person of roster.people) rememberPerson(person);
    state.me.name = state.people.get(claims.sub)?.name || state.me.name;
    state.stateSeq = roster.chat.seq || 0;
    for (const goal of roster.chat.goals || []) state.goals.set(goal.id, goal);
    for (const goal of roster.chat.queued_goals || []) goalQueue.set(goal.id, goal);
    state.sponsor = roster.chat.sponsor;
    state.minDonation = roster.chat.min_donation ?? null;
  }
  if (roster) history.replaceState(null, "", `?as=${encodeURIComponent(state.me.name.toLowerCase())}`);
  $("join").hidden = true;
  $("room").hidden = false;
  showMe();
  $("model-name").textContent = state.modelName;
  $("goal-form").hidden = state.me.role !== "model";
  $("settings-card").hidden = state.me.role !== "model";
  $("donate-card").hidden = state.me.role !== "client";
  refreshRecipients();
  renderSponsor();
  renderGoals();
  renderGoalQueue();
  renderMinDonation();
  setUpMenu();
  setUpShows();
  setUpExtras(); // extras.js
  start();
}

function showMe() {
  document.title = `${state.me.name} · chatledger demo`;
  const me = $("me");
  me.hidden = false;
  me.textContent = `${state.me.name} · ${state.me.role === "model" ? "model" : "viewer"}`;
}

// The balance as the ledger has it: read on join and again whenever an event moved our money or
// put it on hold, one request at a time (then one more), so an older answer never shows last.
async function refreshBalance() {
  const funds = state.funds;
  if (funds.busy) {
    funds.again = true;
    return;
  }
  funds.busy = true;
  try {
    do {
      funds.again = false;
      const result = await api("GET", "/chat/me").catch(() => null);
      if (result && result.ok) showFunds(result.body);
    } while (funds.again);
  } finally {
    funds.busy = false;
  }
}

// It also names us when we joined with a bare token.
function showFunds(me) {
  if (me.name !== state.me.name) {
    state.me.name = me.name;
    rememberPerson({ uuid: state.me.uuid, name: state.me.name, role: state.me.role });
    showMe();
  }
  const balance = $("balance");
  balance.textContent = `balance ${me.balance}`;
  balance.hidden = false;
  const held = $("held"); // DESIGN §10: money on hold is not available
  held.textContent = `available ${me.available} · held ${me.held}`;
  held.hidden = false;
}

function movesMyMoney(event) {
  if (!MONEY_MOVERS.has(event.type)) return false;
  // An anonymous tip's refund names nobody: it may be ours.
  const from = event.from?.uuid;
  return state.me.role === "model" || from === state.me.uuid || (from === null && event.type === "donate_refunded");
}

async function start() {
  refreshBalance();
  setStatus("loading", "loading history");
  await loadShow(); // the show as of a seq: history and the websocket then add what came after
  const result = await api("GET", "/chat/event/history").catch(() => null);
  if (result && result.ok && Array.isArray(result.body.events)) {
    for (const event of result.body.events) receive(event);
  }
  state.live = true;
  refreshLeaderboard();
  connect();
}

// ---- the websocket ---------------------------------------------------------------------------

function connect() {
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", state.token);
  if (state.lastSeq > 0) url.searchParams.set("since", String(state.lastSeq));
  const socket = new WebSocket(url);
  let opened = false;
  state.socket = socket;
  setStatus("connecting", "connecting");
  socket.addEventListener("open", () => {
    opened = true;
  });
  socket.addEventListener("message", (message) => {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch (_) {
      return;
    }
    if (data.type === "connected") {
      state.retries = 0;
      setStatus("live", "live");
      return;
    }
    if (data.type === "presence") {
      showViewers(data.viewers);
      return;
    }
    receive(data);
  });
  socket.addEventListener("close", async (closed) => {
    if (state.socket !== socket || state.shutOut) return;
    if (closed.code === CLOSE_BANNED) {
      shutOut("banned");
      return;
    }
    // A refusal before the upgrade reaches a browser as a bare 1006: ask the same URL over
    // plain HTTP, where the gateway answers with its body (403 "banned").
    const refusal = opened ? null : await refusalOf(url);
    if (refusal) {
      shutOut(refusal);
      return;
    }
    // Reconnect with since=<last seq>: the gateway replays what we missed, `seen` drops repeats.
    const delay = Math.min(10000, 500 * 2 ** state.retries++);
    setStatus("offline", `offline, retrying in ${Math.round(delay / 1000)}s`);
    setTimeout(connect, delay);
  });
}

async function refusalOf(socketUrl) {
  const url = new URL(socketUrl);
  url.protocol = location.protocol;
  const answer = await fetch(url).catch(() => null);
  if (!answer || answer.status !== 403) return null;
  const body = await answer.json().catch(() => null);
  return body?.message || "forbidden";
}

// The server will not let us in any more (a ban): say why, stop reconnecting.
function shutOut(reason) {
  state.shutOut = reason;
  setStatus("banned", reason);
  notice(reason === "banned" ? "You are banned from this chat." : `Refused: ${reason}`);
  state.socket?.close();
}

function showViewers(count) {
  const viewers = document.getElementById("viewers");
  viewers.textContent = `${count} watching`;
  viewers.hidden = false;
}

// ---- events ----------------------------------------------------------------------------------

function rememberPerson(person) {
  if (!person || !person.uuid) return;
  const known = state.people.get(person.uuid);
  state.people.set(person.uuid, { ...known, ...person });
  if (person.role === "model") state.modelName = person.name;
}

function nameOf(uuid) {
  if (uuid === state.me?.uuid) return "you";
  return state.people.get(uuid)?.name || "someone";
}

function receive(event) {
  if (!event || typeof event.seq !== "number" || state.seen.has(event.seq)) return;
  state.seen.add(event.seq);
  if (movesMyMoney(event) || holdIsMine(event)) refreshBalance();
  state.lastSeq = Math.max(state.lastSeq, event.seq);
  const target = event.client && { ...event.client, role: "client" }; // who was moderated
  for (const person of [event.from, target]) {
    if (!person || !person.uuid) continue;
    const isNew = !state.people.has(person.uuid);
    rememberPerson(person);
    if (isNew) refreshRecipients();
  }
  if (event.seq > state.stateSeq) applyToState(event);
  if (event.type === "menu_changed") applyMenu(event); // by version: older ones change nothing
  if (state.live && isExtrasEvent(event)) extrasChanged(event); // extras.js
  track(event);
  trackShow(event);
  if (state.live && (event.type === "donate" || event.type === "donate_refunded")) {
    refreshLeaderboard();
  }
  const row = renderEvent(event);
  if (row) insertInOrder(row, event.seq);
}

// Facts about other events and people, applied whatever the order they arrive in.
function track(event) {
  switch (event.type) {
    case "message_deleted":
      state.deleted.add(event.message_id);
      rowOf(event.message_id)?.remove();
      break;
    case "donate_refunded":
      state.refunded.set(event.donation_id, event);
      markRefunded(rowOf(event.donation_id));
      break;
    case "viewer_banned":
    case "viewer_unbanned":
      if (event.type === "viewer_banned") state.banned.add(event.client.uuid);
      else state.banned.delete(event.client.uuid);
      showBanButtons(event.client.uuid);
      if (event.client.uuid === state.me.uuid && event.type === "viewer_banned" && state.live) {
        shutOut("banned");
      }
      break;
    case "viewer_muted":
      if (event.client.uuid === state.me.uuid && new Date(event.until) > new Date()) {
        notice(`You are muted for ${event.seconds}s (until ${clock(event.until)}).`, "muted");
      }
      break;
    default:
  }
}

function rowOf(eventId) {
  return [...$("events").children].find((row) => row.dataset.id === eventId) || null;
}

function applyToState(event) {
  if (applyGoalQueue(event)) return; // a queued goal waits (goals.js)
  if (event.type === "new_goal" || event.type === "end_goal") {
    state.goals.set(event.goal.id, event.goal);
    renderGoals();
  } else if (event.type === "settings_changed") {
    state.minDonation = event.min_donation;
    renderMinDonation();
  } else if ((event.type === "donate" || event.type === "donate_refunded") && Array.isArray(event.goals)) {
    for (const goal of event.goals) state.goals.set(goal.id, { ...state.goals.get(goal.id), ...goal });
    renderGoals();
  } else if (event.type === "change_sponsor") {
    state.sponsor = { ...event.sponsor, total: event.total };
    renderSponsor();
  }
}

function insertInOrder(row, seq) {
  const list = $("events");
  row.dataset.seq = String(seq);
  let before = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    if (Number(node.dataset.seq) < seq) break;
    before = node;
  }
  list.insertBefore(row, before);
  while (list.children.length > MAX_EVENTS) list.firstElementChild.remove();
  if (!before) row.scrollIntoView({ block: "end" });
}

function clock(iso) {
  const moment = new Date(iso);
  return Number.isNaN(moment.getTime()) ? "" : moment.toLocaleTimeString([], { hour12: false });
}

function timeOf(event) {
  return clock(event.created_at);
}

function renderEvent(event) {
  if (event.type === "message" && state.deleted.has(event.id)) return null;
  const row = el("li", `event ${event.type}`);
  row.dataset.type = event.type;
  row.dataset.id = event.id;
  if (!event.is_public) row.classList.add("private");
  row.append(el("time", "time", timeOf(event)));
  const from = event.from || { name: "someone", role: "" };
  const who = el("span", `who ${from.role}`, from.uuid === state.me.uuid ? `${from.name} (you)` : from.name);
  const line = el("span", "line");
  switch (event.type) {
    case "message":
      line.append(who, el("span", "text", event.message));
      break;
    case "donate_refunded": {
      const whose = event.from?.uuid ? `${event.from.name}'s tip` : "An anonymous tip";
      const why = event.reason ? `: ${event.reason}` : "";
      line.append(el("span", "system", `${whose} of ${event.sum} was refunded${why}`));
      break;
    }
    case "settings_changed":
      line.append(el("span", "system", settingsText(event)));
      break;
    case "viewer_muted":
      line.append(el("span", "system", `${event.client.name} was muted for ${event.seconds}s`));
      break;
    case "viewer_banned":
      line.append(el("span", "system", `${event.client.name} was banned`));
      break;
    case "viewer_unbanned":
      line.append(el("span", "system", `${event.client.name} was unbanned`));
      break;
    case "menu_changed":
      line.append(el("span", "system", menuChangedText(event)));
      break;
    case "donate":
      line.append(who, el("span", "amount", `tipped ${event.sum}`));
      if (event.menu_item) line.append(el("span", "bought", boughtText(event)));
      if (event.message) line.append(el("span", "text", event.message));
      break;
    case "donate_rejected":
      line.append(el("span", "amount", `Your tip of ${event.sum} was refused: ${event.reason}`));
      if (event.message) line.append(el("span", "text", event.message));
      break;
    case "change_sponsor":
      line.append(el("span", "system", `${event.sponsor.name} is the new sponsor (${event.total} in total)`));
      break;
    case "new_goal":
      line.append(el("span", "system", `${event.queued ? "Queued goal" : "New goal"}: ${event.goal.name} (${event.goal.require_sum})`));
      break;
    case "goal_started":
      line.append(el("span", "system", `Goal started: ${event.goal.name} (${event.goal.require_sum})`));
      break;
    case "end_goal":
      line.append(el("span", "system", `Goal reached: ${event.goal.name}!`));
      break;
    default: {
      if (extrasLine(event, who, line)) break; // extras.js: pins and the toy
      const text = showEventText(event);
      if (!text) return null;
      line.append(el("span", "system", text));
    }
  }
  row.append(line);
  if (!event.is_public) row.append(el("span", "tag private-tag", privateTagText(event)));
  if (event.type === "donate" && state.refunded.has(event.id)) markRefunded(row);
  if (event.type === "message") {
    const menu = messageMenu(event);
    if (menu) row.append(menu);
  }
  return row;
}

function markRefunded(row) {
  if (!row || row.classList.contains("refunded")) return;
  row.classList.add("refunded");
  row.append(el("span", "tag refunded-tag", "refunded"));
}

// ---- the message menu: the model moderates, an author deletes its own -------------------------

function messageMenu(event) {
  const author = event.from || {};
  const isModel = state.me.role === "model";
  if (!isModel && author.uuid !== state.me.uuid) return null;
  const menu = el("details", "menu");
  const toggle = el("summary", "menu-toggle", "\u22ef");
  toggle.setAttribute("aria-label", "Message actions");
  toggle.title = "Message actions";
  const items = el("div", "menu-items");
  items.append(action(menu, "Delete", "delete", "/chat/message/delete", () => ({ id: event.id }), "Not deleted"));
  if (isModel && author.role === "client") {
    const seconds = el("input", "mute-seconds");
    seconds.type = "number";
    seconds.min = "1";
    seconds.max = "86400";
    seconds.value = "60";
    seconds.setAttribute("aria-label", "Mute for how many seconds");
    const mute = el("div", "row");
    mute.append(
      seconds,
      action(menu, "Mute", "mute", "/chat/moderation/mute",
        () => ({ client: author.uuid, seconds: Number(seconds.value) }), "Not muted"),
    );
    const client = () => ({ client: author.uuid });
    items.append(
      mute,
      action(menu, `Ban ${author.name}`, "ban danger", "/chat/moderation/ban", client, "Not banned"),
      action(menu, `Unban ${author.name}`, "unban", "/chat/moderation/unban", client, "Not unbanned"),
    );
    menu.dataset.client = author.uuid;
  }
  menu.append(toggle, items);
  if (menu.dataset.client) showBanButtons(author.uuid, menu);
  return menu;
}

function action(menu, label, className, path, body, refused) {
  const button = el("button", className, label);
  button.type = "button";
  button.addEventListener("click", async () => {
    if (await post(path, body(), [], refused)) menu.open = false;
  });
  return button;
}

// Offer Ban or Unban, as far as this page knows the client's standing.
function showBanButtons(client, only) {
  const menus = only ? [only] : $("events").querySelectorAll("details.menu");
  for (const menu of menus) {
    if (menu.dataset.client !== client) continue;
    const banned = state.banned.has(client);
    menu.querySelector("button.ban").hidden = banned;
    menu.querySelector("button.unban").hidden = !banned;
  }
}

function renderSponsor() {
  const badge = $("sponsor");
  const sponsor = state.sponsor;
  badge.dataset.uuid = sponsor ? sponsor.uuid : "";
  badge.classList.toggle("empty", !sponsor);
  if (!sponsor) {
    badge.textContent = "No sponsor yet";
    return;
  }
  badge.replaceChildren(
    el("span", "crown", "\u2605"),
    el("span", "sponsor-name", sponsor.name),
    el("span", "sponsor-total", sponsor.total ? `${sponsor.total} donated` : ""),
  );
}

function renderGoals() {
  const list = $("goals");
  const goals = [...state.goals.values()].slice(-MAX_GOALS);
  $("no-goals").hidden = goals.length > 0;
  list.replaceChildren(
    ...goals.map((goal) => {
      const sum = Number(goal.sum);
      const need = Number(goal.require_sum);
      const percent = need > 0 ? Math.min(100, (sum / need) * 100) : 0;
      const item = el("li", `goal${goal.reached ? " reached" : ""}`);
      item.dataset.goal = goal.id;
      const head = el("div", "goal-head");
      head.append(el("span", "goal-name", goal.name), el("span", "goal-sum", `${goal.sum} / ${goal.require_sum}`));
      const bar = el("div", "bar");
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-label", goal.name);
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", goal.require_sum);
      bar.setAttribute("aria-valuenow", goal.sum);
      const fill = el("div", "fill");
      fill.style.width = `${percent.toFixed(2)}%`;
      bar.append(fill);
      item.append(head, bar);
      if (goal.reached) item.append(el("span", "tag reached-tag", "reached"));
      return item;
    }),
  );
}

// settings_changed carries every setting: say what changed since the one before it on this page
// (the first one seen names the minimum tip, and the show rates that are on).
function settingsText(event) {
  const before = state.settingsSeen;
  state.settingsSeen = event;
  const rates = rateChanges(before, event);
  const some = Number(event.min_donation) > 0;
  const parts = [];
  if (before ? before.min_donation !== event.min_donation : some || rates.length === 0) {
    parts.push(some ? `the minimum tip is now ${event.min_donation}` : "there is no minimum tip any more");
  }
  const text = [...parts, ...rates].join("; ");
  return text ? text[0].toUpperCase() + text.slice(1) : "The chat's settings changed";
}

function renderMinDonation() {
  const minimum = state.minDonation;
  const some = minimum !== null && Number(minimum) > 0;
  const shown = $("min-tip");
  shown.hidden = !some;
  shown.textContent = some ? `Minimum tip ${minimum}` : "";
  $("donate-sum").placeholder = some ? `Amount (at least ${minimum})` : "Amount";
  $("min-tip-now").textContent = some ? `Now ${minimum}.` : "No minimum.";
}

// ---- the leaderboard -------------------------------------------------------------------------

// One request at a time; events arriving meanwhile ask for one more after it (a burst of tips
// costs two requests, not one per tip).
async function refreshLeaderboard() {
  const board = state.board;
  if (board.busy) {
    board.again = true;
    return;
  }
  board.busy = true;
  try {
    do {
      board.again = false;
      const period = state.period;
      const result = await api("GET", `/chat/leaderboard?period=${period}`).catch(() => null);
      if (period !== state.period) board.again = true; // switched meanwhile: read the new one
      else if (result && result.ok) renderLeaderboard(result.body);
    } while (board.again);
  } finally {
    board.busy = false;
  }
}

function renderLeaderboard(body) {
  const list = $("leaderboard");
  list.dataset.period = body.period;
  $("no-leaders").hidden = body.entries.length > 0;
  list.replaceChildren(
    ...body.entries.map((entry, index) => {
      const item = el("li", `leader${entry.uuid === state.me.uuid ? " me" : ""}`);
      item.dataset.uuid = entry.uuid;
      item.append(
        el("span", "leader-rank", `${index + 1}.`),
        el("span", "leader-name", entry.name),
        el("span", "leader-total", entry.total),
      );
      return item;
    }),
  );
}

function choosePeriod(period) {
  state.period = period;
  for (const button of $("periods").querySelectorAll("button")) {
    button.setAttribute("aria-selected", String(button.dataset.period === period));
  }
  if (state.token) refreshLeaderboard();
}

function refreshRecipients() {
  const select = $("message-to");
  const chosen = select.value;
  const options = [new Option("Everyone", "public")];
  if (state.me?.role === "client") {
    options.push(new Option(`Only ${state.modelName}`, "private"));
  } else if (state.me?.role === "model") {
    for (const person of state.people.values()) {
      if (person.role === "client") options.push(new Option(`Only ${person.name}`, person.uuid));
    }
  }
  select.replaceChildren(...options);
  if ([...select.options].some((option) => option.value === chosen)) select.value = chosen;
}

// ---- sending ---------------------------------------------------------------------------------

// POST a form's body; clear the given inputs on success, show why it was refused otherwise.
async function post(path, body, inputs, refused) {
  const result = await api("POST", path, body);
  if (result.ok) {
    for (const input of inputs) input.value = "";
    notice("");
  } else {
    notice(`${refused}: ${failureText(result)}`);
  }
  return result.ok;
}

function sendMessage(submit) {
  submit.preventDefault();
  const to = $("message-to").value;
  const body = { message: $("message-text").value, is_public: to === "public" };
  if (to !== "public" && to !== "private") body.to = to;
  return post("/chat/message/add", body, [$("message-text")], "Message not sent");
}

function sendDonation(submit) {
  submit.preventDefault();
  const body = {
    sum: $("donate-sum").value.trim(),
    anonymous: $("donate-anonymous").checked,
    message: { message: $("donate-text").value, is_public: !$("donate-private").checked },
  };
  // A 402 says the balance is too low now; a refusal decided later arrives as donate_rejected.
  return post("/chat/donate/add", body, [$("donate-sum"), $("donate-text")], "Tip refused");
}

function sendSettings(submit) {
  submit.preventDefault();
  const body = { min_donation: $("min-donation").value.trim() };
  return post("/chat/settings", body, [$("min-donation")], "Minimum not set");
}

function sendGoal(submit) {
  submit.preventDefault();
  const body = goalBody(); // goals.js: with "queue it" checked, the goal is queued
  return post("/chat/goal/add", body, [$("goal-name"), $("goal-sum")], "Goal not set");
}

// ---- start -----------------------------------------------------------------------------------

async function boot() {
  $("message-form").addEventListener("submit", sendMessage);
  $("donate-form").addEventListener("submit", sendDonation);
  $("goal-form").addEventListener("submit", sendGoal);
  $("settings-form").addEventListener("submit", sendSettings);
  for (const button of $("periods").querySelectorAll("button")) {
    button.addEventListener("click", () => choosePeriod(button.dataset.period));
  }
  $("token-form").addEventListener("submit", (submit) => {
    submit.preventDefault();
    try {
      join($("token-input").value.trim(), null);
    } catch (_) {
      $("join-hint").textContent = "That is not a token.";
    }
  });
  const roster = await loadRoster();
  showRoster(roster);
  const wanted = new URLSearchParams(location.search).get("as");
  if (wanted && roster.ok) {
    const person = roster.body.people.find((p) => p.name.toLowerCase() === wanted.toLowerCase());
    if (person) join(person.token, roster.body);
  }
}

boot();
