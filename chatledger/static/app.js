// The chatledger demo page: plain JS, no build step.
// Rule: text from the chat is only ever written with textContent, never parsed as HTML.
"use strict";

const MAX_EVENTS = 500;
const MAX_GOALS = 4;

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
    state.sponsor = roster.chat.sponsor;
  }
  history.replaceState(null, "", `?as=${encodeURIComponent(state.me.name.toLowerCase())}`);
  document.title = `${state.me.name} · chatledger demo`;
  $("join").hidden = true;
  $("room").hidden = false;
  const me = $("me");
  me.hidden = false;
  me.textContent = `${state.me.name} · ${state.me.role === "model" ? "model" : "viewer"}`;
  $("model-name").textContent = state.modelName;
  $("goal-form").hidden = state.me.role !== "model";
  $("donate-card").hidden = state.me.role !== "client";
  refreshRecipients();
  renderSponsor();
  renderGoals();
  start();
}

// The balance as the ledger has it: read on join and again whenever an event moved our money.
async function refreshBalance() {
  const result = await api("GET", "/chat/me").catch(() => null);
  if (!result || !result.ok) return;
  const balance = $("balance");
  balance.textContent = `balance ${result.body.balance}`;
  balance.hidden = false;
}

function movesMyMoney(event) {
  if (event.type !== "donate" && event.type !== "donate_rejected") return false;
  return state.me.role === "model" || event.from?.uuid === state.me.uuid;
}

async function start() {
  refreshBalance();
  setStatus("loading", "loading history");
  const result = await api("GET", "/chat/event/history").catch(() => null);
  if (result && result.ok && Array.isArray(result.body.events)) {
    for (const event of result.body.events) receive(event);
  }
  connect();
}

// ---- the websocket ---------------------------------------------------------------------------

function connect() {
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", state.token);
  if (state.lastSeq > 0) url.searchParams.set("since", String(state.lastSeq));
  const socket = new WebSocket(url);
  state.socket = socket;
  setStatus("connecting", "connecting");
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
  socket.addEventListener("close", () => {
    if (state.socket !== socket) return;
    // Reconnect with since=<last seq>: the gateway replays what we missed, `seen` drops repeats.
    const delay = Math.min(10000, 500 * 2 ** state.retries++);
    setStatus("offline", `offline, retrying in ${Math.round(delay / 1000)}s`);
    setTimeout(connect, delay);
  });
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
  if (movesMyMoney(event)) refreshBalance();
  state.lastSeq = Math.max(state.lastSeq, event.seq);
  if (event.from) {
    const isNew = !state.people.has(event.from.uuid);
    rememberPerson(event.from);
    if (isNew) refreshRecipients();
  }
  if (event.seq > state.stateSeq) applyToState(event);
  const row = renderEvent(event);
  if (row) insertInOrder(row, event.seq);
}

function applyToState(event) {
  if (event.type === "new_goal" || event.type === "end_goal") {
    state.goals.set(event.goal.id, event.goal);
    renderGoals();
  } else if (event.type === "donate" && Array.isArray(event.goals)) {
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

function timeOf(event) {
  const moment = new Date(event.created_at);
  return Number.isNaN(moment.getTime()) ? "" : moment.toLocaleTimeString([], { hour12: false });
}

function renderEvent(event) {
  const row = el("li", `event ${event.type}`);
  row.dataset.type = event.type;
  if (!event.is_public) row.classList.add("private");
  row.append(el("time", "time", timeOf(event)));
  const from = event.from || { name: "someone", role: "" };
  const who = el("span", `who ${from.role}`, from.uuid === state.me.uuid ? `${from.name} (you)` : from.name);
  const line = el("span", "line");
  switch (event.type) {
    case "message":
      line.append(who, el("span", "text", event.message));
      break;
    case "donate":
      line.append(who, el("span", "amount", `tipped ${event.sum}`));
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
      line.append(el("span", "system", `New goal: ${event.goal.name} (${event.goal.require_sum})`));
      break;
    case "end_goal":
      line.append(el("span", "system", `Goal reached: ${event.goal.name}!`));
      break;
    default:
      return null;
  }
  row.append(line);
  if (!event.is_public) {
    const to = event.to ? ` to ${nameOf(event.to)}` : "";
    row.append(el("span", "tag private-tag", `private${to}`));
  }
  return row;
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

function sendGoal(submit) {
  submit.preventDefault();
  const body = { name: $("goal-name").value, require_sum: $("goal-sum").value.trim() };
  return post("/chat/goal/add", body, [$("goal-name"), $("goal-sum")], "Goal not set");
}

// ---- start -----------------------------------------------------------------------------------

async function boot() {
  $("message-form").addEventListener("submit", sendMessage);
  $("donate-form").addEventListener("submit", sendDonation);
  $("goal-form").addEventListener("submit", sendGoal);
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
