// The goal queue (DESIGN §11): goals the model queued wait, listed under the active ones, until
// goal_started moves them up; the model's goal form can queue a goal ("queue it").
// Loaded before app.js; uses its helpers ($, el, renderGoals, state) only when called.
"use strict";

const goalQueue = new Map(); // goal id -> goal (wire form), in the order queued
const goalsStarted = new Set(); // ids that started: a late new_goal must not queue them again

// new_goal / goal_started: true when the event was about the queue (app.js does nothing more).
function applyGoalQueue(event) {
  if (event.type === "new_goal" && event.queued) {
    if (!goalsStarted.has(event.goal.id)) goalQueue.set(event.goal.id, event.goal);
  } else if (event.type === "goal_started") {
    goalsStarted.add(event.goal.id);
    goalQueue.delete(event.goal.id);
    state.goals.set(event.goal.id, event.goal);
    renderGoals();
  } else {
    return false;
  }
  renderGoalQueue();
  return true;
}

function renderGoalQueue() {
  const list = $("goal-queue");
  const waiting = [...goalQueue.values()];
  $("goal-queue-card").hidden = waiting.length === 0;
  list.replaceChildren(
    ...waiting.map((goal, place) => {
      const item = el("li", "goal queued");
      item.dataset.goal = goal.id;
      item.append(el("span", "goal-name", `${place + 1}. ${goal.name}`), el("span", "goal-sum", goal.require_sum));
      return item;
    }),
  );
}

function goalBody() {
  const body = { name: $("goal-name").value, require_sum: $("goal-sum").value.trim() };
  if ($("goal-queued").checked) body.queued = true;
  return body;
}
