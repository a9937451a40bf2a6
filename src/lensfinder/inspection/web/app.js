// lensfinder grading page. All text from the server is inserted with
// textContent, never parsed as HTML, so object ids and names cannot inject markup.
// Stamps are drawn here from float32 pixels: stretch and scale change without new images.
"use strict";

const STRETCHES = ["linear", "sqrt", "log", "asinh"];
const SCALES = ["minmax", "p99", "p99.5", "p99.9", "zscale"];
const ZOOMS = [1, 2, 4];
const NAN_RGB = [110, 0, 0];  // non-finite pixels, so they are not mistaken for sky
const CACHE_MAX = 400;

const state = {
  items: [], grades: [], notes: [], keys: [], flags: [], current: 0, view: "single", nGraded: 0,
  stretch: "asinh", scale: "p99.5", zoom: 1, field: false, unblind: false, unblindView: false,
  context: false, stretchParams: {}, gradeStarted: null,
};
const pixelCache = new Map();   // "i/band" or "i/field" -> Promise of {pixels, shape, limits, box}
const detailCache = new Map();  // i -> Promise of the item's details
let queue = Promise.resolve();
let token = "";
let showSerial = 0;

function $(id) { return document.getElementById(id); }

async function api(path, body) {
  const opts = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Lensfinder-Token": token },
    body: JSON.stringify(body),
  };
  const resp = await fetch(path, opts);
  const data = await resp.json();
  if (!resp.ok) { throw new Error(data.error || resp.statusText); }
  return data;
}

// ------------------------------------------------------------------ pixels and drawing

function fetchPixels(url) {
  if (pixelCache.has(url)) { return pixelCache.get(url); }
  const promise = fetch(url).then(async (resp) => {
    if (!resp.ok) { throw new Error((await resp.json()).error || resp.statusText); }
    const meta = JSON.parse(resp.headers.get("X-Pixels-Meta"));
    return { pixels: new Float32Array(await resp.arrayBuffer()), ...meta };
  });
  promise.catch(() => pixelCache.delete(url));
  pixelCache.set(url, promise);
  if (pixelCache.size > CACHE_MAX) { pixelCache.delete(pixelCache.keys().next().value); }
  return promise;
}

function stretchFn(name) {
  const p = state.stretchParams[name] || {};
  if (name === "sqrt") { return Math.sqrt; }
  if (name === "log") { const a = p.a, n = Math.log(a + 1); return (x) => Math.log(a * x + 1) / n; }
  if (name === "asinh") { const a = p.a, n = Math.asinh(1 / a); return (x) => Math.asinh(x / a) / n; }
  return (x) => x;
}

// Draw `data` (rows north first) on `canvas`: astropy's interval limits, then its stretch, to 8 bits.
function draw(canvas, data, zoom) {
  const [ny, nx] = data.shape;
  const h = Math.max(1, Math.round(ny / zoom)), w = Math.max(1, Math.round(nx / zoom));
  const y0 = Math.floor((ny - h) / 2), x0 = Math.floor((nx - w) / 2);
  const [lo, hi] = data.limits[state.scale];
  const f = stretchFn(state.stretch);
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(w, h);
  const out = img.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = data.pixels[(y0 + y) * nx + (x0 + x)];
      const o = 4 * (y * w + x);
      if (!Number.isFinite(v)) {
        out[o] = NAN_RGB[0]; out[o + 1] = NAN_RGB[1]; out[o + 2] = NAN_RGB[2];
      } else {
        const t = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
        out[o] = out[o + 1] = out[o + 2] = Math.round(255 * f(t));
      }
      out[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  if (data.box) {  // the stamp's footprint inside the wider field
    ctx.strokeStyle = "#0cf";
    ctx.lineWidth = Math.max(1, w / 300);
    ctx.strokeRect((nx - data.box) / 2 - x0, (ny - data.box) / 2 - y0, data.box, data.box);
  }
  canvas.dataset.drawn = `${state.stretch}/${state.scale}/${zoom}`;
}

function figure(label, child) {
  const fig = document.createElement("figure");
  const cap = document.createElement("figcaption");
  cap.textContent = label;
  fig.append(child, cap);
  return fig;
}

// The images of one item, side by side: the colour composite of a set of several bands, a canvas
// per band (or the wider field), then extra PNGs.
async function showStamps(i) {
  const serial = ++showSerial;
  const item = state.items[i];
  const box = $("stamps");
  const views = [];
  if (state.field && item.field) {
    views.push({ label: "wider field (r, from the tile)", url: `/api/field/${i}` });
  } else {
    for (const band of item.bands) { views.push({ label: `${band} band`, url: `/api/pixels/${i}/${band}` }); }
  }
  const loaded = await Promise.all(views.map((v) => fetchPixels(v.url)));
  if (serial !== showSerial) { return; }  // a newer item was asked for meanwhile
  const figs = loaded.map((data, k) => {
    const canvas = document.createElement("canvas");
    canvas.className = "stamp";
    canvas.setAttribute("aria-label", `${item.name} ${views[k].label}`);
    draw(canvas, data, state.zoom);
    return figure(views[k].label, canvas);
  });
  const images = [];
  for (const png of item.pngs) {
    // one band: the grey PNG, which its canvas replaces; several: the colour composite, first;
    // a single band's PNG beside its canvas says nothing more
    if (png.label === "png" && item.bands.length === 1) { continue; }
    if (png.label !== "png" && item.bands.includes(png.label)) { continue; }
    const img = document.createElement("img");
    img.src = png.url;
    img.alt = item.name;
    const label = png.label !== "png" ? png.label : item.bands.length > 1 ? `colour (${item.bands.join(", ")})` : "stamp";
    images.push(figure(label, img));
  }
  if (item.bands.length > 1 && !(state.field && item.field)) { figs.unshift(...images); } else { figs.push(...images); }
  box.replaceChildren(...figs);
  box.classList.toggle("multi", figs.length > 1);
  box.classList.toggle("many", figs.length > 3);  // a colour composite and three bands in one row
  document.body.dataset.shown = String(i);
  if (state.gradeStarted !== null) {
    document.body.dataset.lastShowMs = (performance.now() - state.gradeStarted).toFixed(1);
    state.gradeStarted = null;
  }
}

function prefetch(from) {
  let n = 0;
  for (let k = 1; k < state.items.length && n < 3; k++) {
    const i = (from + k) % state.items.length;
    if (state.grades[i]) { continue; }
    for (const band of state.items[i].bands) { fetchPixels(`/api/pixels/${i}/${band}`).catch(() => {}); }
    n++;
  }
}

// ------------------------------------------------------------------ single view

function details(i) {
  if (!detailCache.has(i)) {
    const p = api(`/api/item/${i}`);
    p.catch(() => detailCache.delete(i));
    detailCache.set(i, p);
  }
  return detailCache.get(i);
}

async function showDetails(i) {
  const d = await details(i);
  if (i !== state.current) { return; }
  $("fits-link").href = d.fits;
  $("fits-link").hidden = !state.items[i].bands.length;
  const links = d.viewers.map((v) => {
    const a = document.createElement("a");
    a.href = v.url;
    a.textContent = v.label;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  });
  $("viewer-links").replaceChildren(...links);
  $("details").hidden = !(state.unblind && state.unblindView);
  if (!state.unblind) { return; }
  const rows = [["object id", d.object_id], ["p_CNN", d.p_cnn === null ? "-" : d.p_cnn.toPrecision(6)],
    ["samples", d.samples || "-"], ["position", d.ra === null ? "-" : `${d.ra.toFixed(6)} ${d.dec.toFixed(6)}`],
    ["mixed-in simulation", d.simulated ? (d.is_lens ? "yes: a lens" : "yes: a non-lens") : "no"]];
  $("details-list").replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    return [dt, dd];
  }));
  $("others").tBodies[0].replaceChildren(...d.others.map((o) => {
    const tr = document.createElement("tr");
    for (const v of [o.inspector, o.grade, o.flags, o.comment]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    return tr;
  }));
}

function showNote(i, force) {
  const note = state.notes[i] || { flags: [], comment: "" };
  for (const box of $("flags").querySelectorAll("input")) { box.checked = note.flags.includes(box.value); }
  if (force || document.activeElement !== $("comment")) { $("comment").value = note.comment; }
}

function render() {
  const n = state.items.length;
  $("progress").textContent = `${state.nGraded} / ${n} graded`;
  document.body.dataset.graded = String(state.nGraded);
  const allDone = n > 0 && state.nGraded >= n;
  $("done").hidden = !(allDone && state.view === "single");
  $("single").hidden = state.view !== "single" || n === 0 || allDone;
  $("grid").hidden = state.view !== "grid";
  $("toggle-view").textContent = state.view === "single" ? "grid (G)" : "single (G)";
  $("mode").textContent = state.unblind && state.unblindView ? "UNBLINDED" : "blind";
  $("mode").classList.toggle("unblinded", state.unblind && state.unblindView);
  $("toggle-field").disabled = !state.items.some((it) => it.field);
  if (n === 0) { $("status").textContent = "This inspection set is empty."; return; }
  const item = state.items[state.current];
  document.body.dataset.current = item.name;
  document.body.dataset.index = String(state.current);
  if (state.view === "single" && !allDone) {
    $("current-name").textContent = `${state.current + 1}. ${item.name}`;
    const g = state.grades[state.current];
    $("current-grade").textContent = g ? `graded ${g}` : "";
    showNote(state.current);
    showStamps(state.current).catch((err) => { $("status").textContent = `error: ${err.message}`; });
    showDetails(state.current).catch((err) => { $("status").textContent = `error: ${err.message}`; });
    prefetch(state.current);
  }
  if (state.view === "grid") { focusCell(state.current); }
}

// ------------------------------------------------------------------ grid view

let observer = null;

function buildGrid() {
  const grid = $("grid");
  observer = new IntersectionObserver((entries) => {
    for (const e of entries) { if (e.isIntersecting) { drawCell(Number(e.target.dataset.index)); } }
  });
  grid.replaceChildren(...state.items.map((item, i) => {
    const cell = document.createElement("div");
    cell.className = "cell";
    cell.dataset.index = String(i);
    let pic;
    if (item.bands.length === 1) {
      pic = document.createElement("canvas");
    } else {  // no cube: the PNG; several bands: the colour composite
      const png = item.pngs.find((p) => p.label === "png") || item.pngs[0];
      pic = document.createElement("img");
      pic.loading = "lazy";
      pic.src = png ? png.url : "";
      pic.alt = item.name;
    }
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = item.name;
    const badge = document.createElement("span");
    badge.className = "badge";
    const noted = document.createElement("span");
    noted.className = "noted";
    cell.append(pic, name, badge, noted);
    cell.addEventListener("click", () => enqueue(async () => { state.current = i; state.view = "single"; render(); }));
    observer.observe(cell);
    return cell;
  }));
  state.items.forEach((_, i) => updateCell(i));
}

function cellAt(i) { return $("grid").children[i]; }

async function drawCell(i) {
  const item = state.items[i];
  const canvas = cellAt(i).querySelector("canvas");
  if (!canvas || !item.bands.length) { return; }
  const data = await fetchPixels(`/api/pixels/${i}/${item.bands[0]}`);
  draw(canvas, data, 1);
}

function redrawVisibleCells() {
  if (state.view !== "grid") { return; }
  const top = 0, bottom = window.innerHeight;
  for (const c of $("grid").children) {
    const r = c.getBoundingClientRect();
    if (r.bottom >= top && r.top <= bottom) { drawCell(Number(c.dataset.index)).catch(() => {}); }
  }
}

function updateCell(i) {
  const c = cellAt(i);
  if (!c) { return; }
  c.querySelector(".badge").textContent = state.grades[i] || "";
  c.querySelector(".noted").textContent = state.notes[i] ? "*" : "";
}

function focusCell(i) {
  for (const c of $("grid").querySelectorAll(".cell.current")) { c.classList.remove("current"); }
  const c = cellAt(i);
  if (c) { c.classList.add("current"); c.scrollIntoView({ block: "nearest" }); }
}

function gridColumns() {
  return getComputedStyle($("grid")).gridTemplateColumns.split(" ").filter(Boolean).length || 1;
}

// ------------------------------------------------------------------ actions

function firstUngraded(from) {
  const n = state.items.length;
  for (let k = 0; k < n; k++) {
    const i = (from + k) % n;
    if (!state.grades[i]) { return i; }
  }
  return -1;
}

async function grade(value) {
  const i = state.current;
  const item = state.items[i];
  if (!item) { return; }
  if (state.grades[i]) {
    $("status").textContent = `${item.name} is already graded; press U to undo first.`;
    return;
  }
  const data = await api("/api/grade", { item: i, grade: value });
  state.grades[data.item] = data.grade;
  state.nGraded = data.n_graded;
  updateCell(data.item);
  $("status").textContent = `saved ${data.grade} for ${item.name}`;
  $("feedback").hidden = !data.feedback;
  if (data.feedback) {
    $("feedback").textContent = `${item.name}: ${data.feedback}`;
    $("feedback").classList.toggle("miss", /missed|not a lens after all/.test(data.feedback));
  }
  const next = firstUngraded(i);
  if (next >= 0) { state.current = next; }
  render();
}

async function undo() {
  const data = await api("/api/undo", {});
  state.nGraded = data.n_graded;
  if (data.undone) {
    const i = data.undone.item;
    state.grades[i] = null;
    state.current = i;
    updateCell(i);
    $("status").textContent = `undid ${data.undone.grade} for ${state.items[i].name}`;
  } else {
    $("status").textContent = "nothing to undo";
  }
  render();
}

async function saveNote() {
  const i = state.current;
  const flags = Array.from($("flags").querySelectorAll("input:checked"), (b) => b.value);
  const data = await api("/api/note", { item: i, flags, comment: $("comment").value });
  state.notes[data.item] = data.flags.length || data.comment ? { flags: data.flags, comment: data.comment } : null;
  updateCell(data.item);
  $("note-state").textContent = `note saved for ${state.items[data.item].name}`;
  document.body.dataset.notesSaved = String(Number(document.body.dataset.notesSaved || 0) + 1);
}

function enqueue(action) {
  queue = queue.then(action).catch((err) => { $("status").textContent = `error: ${err.message}`; });
}

function setDisplay(key, value) {
  state[key] = value;
  $(key).value = String(value);
  try { localStorage.setItem(`lensfinder.${key}`, String(value)); } catch (e) { /* private mode */ }
  if (state.view === "single") { render(); } else { redrawVisibleCells(); }
}

function cycle(list, value, step) { return list[(list.indexOf(value) + step + list.length) % list.length]; }

function move(step) {
  const n = state.items.length;
  if (n) { enqueue(async () => { state.current = (state.current + step + n) % n; render(); }); }
}

function onKey(event) {
  if (event.altKey || event.metaKey) { return; }
  const key = event.key;
  const tag = event.target.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") {
    if (event.target === $("comment") && key === "Escape") { showNote(state.current, true); }
    if (key === "Escape" || (key === "Enter" && event.target === $("comment"))) {
      event.preventDefault();
      event.target.blur();  // a changed comment is saved by its change event
    }
    return;
  }
  if (event.ctrlKey) {
    if (key === "z" || key === "Z") { event.preventDefault(); enqueue(undo); }
    return;
  }
  const match = state.keys.find((k) => k.key.toLowerCase() === key.toLowerCase());
  if (match) {
    event.preventDefault();
    state.gradeStarted = state.view === "single" ? performance.now() : null;
    enqueue(() => grade(match.grade));
    return;
  }
  const grid = state.view === "grid";
  const actions = {
    u: () => enqueue(undo), Backspace: () => enqueue(undo),
    g: () => enqueue(async () => { state.view = grid ? "single" : "grid"; render(); redrawVisibleCells(); }),
    ArrowRight: () => move(1), ArrowLeft: () => move(-1),
    ArrowDown: () => move(grid ? gridColumns() : 1), ArrowUp: () => move(grid ? -gridColumns() : -1),
    Enter: () => { if (grid) { enqueue(async () => { state.view = "single"; render(); }); } },
    s: () => setDisplay("stretch", cycle(STRETCHES, state.stretch, 1)),
    i: () => setDisplay("scale", cycle(SCALES, state.scale, 1)),
    z: () => setDisplay("zoom", cycle(ZOOMS, state.zoom, 1)),
    "+": () => setDisplay("zoom", ZOOMS[Math.min(ZOOMS.length - 1, ZOOMS.indexOf(state.zoom) + 1)]),
    "=": () => setDisplay("zoom", ZOOMS[Math.min(ZOOMS.length - 1, ZOOMS.indexOf(state.zoom) + 1)]),
    "-": () => setDisplay("zoom", ZOOMS[Math.max(0, ZOOMS.indexOf(state.zoom) - 1)]),
    w: () => toggleField(),
    v: () => toggleUnblind(),
    n: () => { if (!grid) { $("comment").focus(); } },
  };
  const action = actions[key] || actions[key.toLowerCase()];
  if (action) { event.preventDefault(); action(); }
}

function toggleField() {
  if (!state.items.some((it) => it.field)) { return; }
  state.field = !state.field;
  $("toggle-field").textContent = state.field ? "stamp (W)" : "wider field (W)";
  render();
}

function toggleUnblind() {
  if (!state.unblind) { $("status").textContent = "start the server with --unblind to see p_CNN and others' grades"; return; }
  state.unblindView = !state.unblindView;
  detailCache.clear();
  render();
}

// ------------------------------------------------------------------ start

// A clicked button gives the focus back to the page, as the flag boxes and menus do: a focused button would be
// pressed again by Space or Enter (the grade button grading the next object too).
function onPress(button, action) {
  button.addEventListener("click", () => { button.blur(); action(); });
}

async function init() {
  token = document.querySelector('meta[name="lensfinder-token"]').content;
  const data = await api("/api/state");
  Object.assign(state, {
    items: data.items, keys: data.keys, flags: data.flags, grades: data.grades, notes: data.notes,
    nGraded: data.n_graded, unblind: data.unblind, unblindView: data.unblind, context: data.context,
    stretchParams: data.stretches,
  });
  const choices = { stretch: STRETCHES, scale: SCALES, zoom: ZOOMS };
  for (const key of ["stretch", "scale", "zoom"]) {
    let saved = null;
    try { saved = localStorage.getItem(`lensfinder.${key}`); } catch (e) { /* private mode */ }
    saved = key === "zoom" ? Number(saved) : saved;
    if (choices[key].includes(saved)) { state[key] = saved; }
    $(key).value = String(state[key]);
    $(key).addEventListener("change", (ev) => {
      setDisplay(key, key === "zoom" ? Number(ev.target.value) : ev.target.value);
      ev.target.blur();  // back to the keyboard
    });
  }
  $("inspector").textContent = `inspector: ${data.inspector}`;
  $("scheme").textContent = `scheme: ${data.scheme}`;
  $("toggle-unblind").hidden = !data.unblind;
  onPress($("toggle-unblind"), toggleUnblind);
  onPress($("toggle-field"), toggleField);
  if (!data.items.some((it) => it.field)) {
    $("field-note").textContent = data.context
      ? "wider field: start the server with --tile-dir (the survey tiles)"
      : "wider field, positions and viewer links are hidden in blind mode: simulations are mixed in";
  }
  $("keys").replaceChildren(...data.keys.map((k) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `${k.key.toUpperCase()}: ${k.label}`;
    onPress(b, () => enqueue(() => grade(k.grade)));
    return b;
  }));
  $("flags").replaceChildren(...data.flags.map((f) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = f;
    box.addEventListener("change", () => { box.blur(); enqueue(saveNote); });
    label.append(box, ` ${f}`);
    return label;
  }));
  $("comment").addEventListener("change", () => enqueue(saveNote));
  onPress($("toggle-view"), () => {
    enqueue(async () => { state.view = state.view === "single" ? "grid" : "single"; render(); redrawVisibleCells(); });
  });
  buildGrid();
  const start = firstUngraded(0);
  state.current = start >= 0 ? start : 0;
  document.addEventListener("keydown", onKey);
  render();
  document.body.dataset.ready = "1";
}

init().catch((err) => { $("status").textContent = `error: ${err.message}`; });
