// The tip menu (DESIGN §10): the model's editor, and the viewer's one-click priced tips.
// Loaded before app.js; uses its helpers ($, el, api, post, notice, state) only when called.
"use strict";

const MENU_MAX_ITEMS = 25;
const menu = { version: 0, items: [] }; // the chat's menu as the newest menu_changed says

async function setUpMenu() {
  $("menu-card").hidden = state.me.role !== "model";
  $("menu-add").addEventListener("click", () => addMenuRow("", ""));
  $("menu-form").addEventListener("submit", sendMenu);
  const result = await api("GET", "/chat/menu");
  if (result.ok) applyMenu(result.body);
}

// A menu_changed event or GET /chat/menu: only a newer version replaces what is shown.
function applyMenu(newer) {
  if (newer.version <= menu.version) return;
  menu.version = newer.version;
  menu.items = newer.items;
  renderMenuButtons();
  if (state.me.role === "model") fillMenuEditor();
}

function renderMenuButtons() {
  const box = $("menu-buttons");
  box.replaceChildren();
  box.hidden = state.me.role !== "client" || menu.items.length === 0;
  for (const item of menu.items) {
    const button = el("button", "menu-item", `${item.label} · ${item.price}`);
    button.type = "button";
    button.dataset.id = item.id;
    button.addEventListener("click", () => buyMenuItem(item));
    box.append(button);
  }
}

function buyMenuItem(item) {
  const body = {
    sum: item.price,
    menu_item: item.id,
    anonymous: $("donate-anonymous").checked,
    message: { message: $("donate-text").value, is_public: !$("donate-private").checked },
  };
  return post("/chat/donate/add", body, [$("donate-text")], "Tip refused");
}

function fillMenuEditor() {
  $("menu-rows").replaceChildren();
  for (const item of menu.items) addMenuRow(item.label, item.price);
}

function addMenuRow(label, price) {
  if ($("menu-rows").children.length >= MENU_MAX_ITEMS) return;
  const row = el("li", "row menu-row");
  const labelInput = el("input", "menu-label");
  labelInput.placeholder = "Action, e.g. Dance";
  labelInput.maxLength = 100;
  labelInput.value = label;
  const priceInput = el("input", "menu-price");
  priceInput.placeholder = "Price";
  priceInput.inputMode = "decimal";
  priceInput.value = price;
  const remove = el("button", "menu-remove", "✕");
  remove.type = "button";
  remove.setAttribute("aria-label", "Remove");
  remove.addEventListener("click", () => row.remove());
  row.append(labelInput, priceInput, remove);
  $("menu-rows").append(row);
}

function sendMenu(submit) {
  submit.preventDefault();
  const items = [...$("menu-rows").querySelectorAll(".menu-row")].map((row) => ({
    label: row.querySelector(".menu-label").value,
    price: row.querySelector(".menu-price").value.trim(),
  }));
  return post("/chat/menu", { items }, [], "Menu not saved");
}

// The chat line of a menu_changed event; what a donate bought, if it bought anything.
function menuChangedText(event) {
  if (event.items.length === 0) return "The tip menu was cleared";
  return `Tip menu: ${event.items.map((i) => `${i.label} (${i.price})`).join(", ")}`;
}

function boughtText(event) {
  return event.menu_item ? `bought ${event.menu_item.label}` : null;
}
