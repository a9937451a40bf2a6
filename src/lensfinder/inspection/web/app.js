// lensfinder grading page. All text from the server is inserted with
// textContent, never parsed as HTML, so object ids and names cannot inject markup.
"use strict";

const state = { items: [], grades: {}, keys: [], current: 0, view: "single", nGraded: 0 };
let queue = Promise.resolve();

function $(id) { return document.getElementById(id); }

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  };
  const resp = await fetch(path, opts);
  const data = await resp.json();
  if (!resp.ok) { throw new Error(data.error || resp.statusText); }
  return data;
}

function firstUngraded(from) {
  const n = state.items.length;
  for (let k = 0; k < n; k++) {
    const i = (from + k) % n;
    if (!(state.items[i].object_id in state.grades)) { return i; }
  }
  return -1;
}

function applyServer(data) {
  state.grades = data.grades;
  state.nGraded = data.n_graded;
}

function render() {
  const n = state.items.length;
  $("progress").textContent = `${state.nGraded} / ${n} graded`;
  document.body.dataset.graded = String(state.nGraded);
  const allDone = n > 0 && state.nGraded >= n;
  $("done").hidden = !(allDone && state.view === "single");
  $("single").hidden = state.view !== "single" || n === 0 || allDone;
  $("grid").hidden = state.view !== "grid";
  if (n === 0) { $("status").textContent = "This inspection set is empty."; }
  if (state.view === "single" && n > 0 && !allDone) {
    const item = state.items[state.current];
    $("stamp").src = item.png;
    $("stamp").alt = item.name;
    $("current-name").textContent = `${state.current + 1}. ${item.name}`;
    const g = state.grades[item.object_id];
    $("current-grade").textContent = g === undefined ? "" : `graded ${g}`;
    document.body.dataset.current = item.object_id;
  }
  if (state.view === "grid") { renderGrid(); }
}

function renderGrid() {
  const grid = $("grid");
  grid.replaceChildren();
  state.items.forEach((item, i) => {
    const cell = document.createElement("div");
    cell.className = "cell" + (i === state.current ? " current" : "");
    cell.dataset.index = String(i);
    const img = document.createElement("img");
    img.src = item.png;
    img.alt = item.name;
    img.loading = "lazy";
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = item.name;
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = state.grades[item.object_id] || "";
    cell.append(img, name, badge);
    cell.addEventListener("click", () => { state.current = i; state.view = "single"; render(); });
    grid.append(cell);
  });
}

async function grade(value) {
  const item = state.items[state.current];
  if (!item) { return; }
  if (item.object_id in state.grades) {
    $("status").textContent = `${item.name} is already graded; press U to undo first.`;
    return;
  }
  const data = await api("/api/grade", { object_id: item.object_id, grade: value });
  applyServer(data);
  $("status").textContent = `saved ${value} for ${item.name}`;
  const next = firstUngraded(state.current);
  if (next >= 0) { state.current = next; }
  render();
}

async function undo() {
  const data = await api("/api/undo", {});
  applyServer(data);
  if (data.undone) {
    const i = state.items.findIndex((it) => it.object_id === data.undone.object_id);
    if (i >= 0) { state.current = i; }
    $("status").textContent = `undid ${data.undone.grade} for ${state.items[i] ? state.items[i].name : ""}`;
  } else {
    $("status").textContent = "nothing to undo";
  }
  render();
}

function enqueue(action) {
  queue = queue.then(action).catch((err) => { $("status").textContent = `error: ${err.message}`; });
}

function onKey(event) {
  if (event.altKey || event.metaKey) { return; }
  const key = event.key;
  if (event.ctrlKey) {
    if (key === "z" || key === "Z") { event.preventDefault(); enqueue(undo); }
    return;
  }
  const match = state.keys.find((k) => k.key.toLowerCase() === key.toLowerCase());
  if (match) { event.preventDefault(); enqueue(() => grade(match.grade)); return; }
  if (key === "u" || key === "U" || key === "Backspace") { event.preventDefault(); enqueue(undo); return; }
  if (key === "g" || key === "G") {
    event.preventDefault();
    enqueue(async () => { state.view = state.view === "single" ? "grid" : "single"; render(); });
    return;
  }
  if (key === "ArrowRight" || key === "ArrowLeft") {
    event.preventDefault();
    const n = state.items.length;
    if (n) {
      enqueue(async () => { state.current = (state.current + (key === "ArrowRight" ? 1 : n - 1)) % n; render(); });
    }
  }
}

async function init() {
  const data = await api("/api/state");
  state.items = data.items;
  state.keys = data.keys;
  applyServer(data);
  $("inspector").textContent = `inspector: ${data.inspector}`;
  $("scheme").textContent = `scheme: ${data.scheme}`;
  const keys = $("keys");
  for (const k of data.keys) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `${k.key.toUpperCase()}: ${k.label}`;
    b.addEventListener("click", () => enqueue(() => grade(k.grade)));
    keys.append(b);
  }
  $("toggle-view").addEventListener("click", () => {
    enqueue(async () => { state.view = state.view === "single" ? "grid" : "single"; render(); });
  });
  const start = firstUngraded(0);
  state.current = start >= 0 ? start : 0;
  document.addEventListener("keydown", onKey);
  render();
  document.body.dataset.ready = "1";
}

init().catch((err) => { $("status").textContent = `error: ${err.message}`; });
