// The live page of `cli.py serve`: a spec's diagram (dagre lays it out, SVG draws it),
// its YAML beside it, linked both ways, and the training runs' curves (uPlot).
// Everything from the server is shown as text (textContent), never parsed as HTML.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const BOX = {width: 214, height: 64};
const state = {
  index: null, spec: null, view: null, good: null, goods: {}, expanded: new Set(), selected: null, picked: null,
  file: null, search: "", hit: -1, transform: {x: 0, y: 0, k: 1}, fitted: false, mode: "spec", runs: null,
  charts: [],
};
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

const thousands = (n) => n.toLocaleString("en-US");
function short(n) {
  if (n < 1000) return String(n);
  const power = Math.min(Math.floor(Math.log10(n) / 3), 4);
  return (n / 1000 ** power).toPrecision(3) + " kMGT"[power];
}
const shapeText = (shape) => Array.isArray(shape[0]) ? shape.map(shapeText).join(", ")
  : "(" + shape.map((d) => d === null ? "None" : d).join(", ") + ")";

async function getJSON(url) {
  const response = await fetch(url, {cache: "no-store"});
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

// --- start, and following the server's changes --------------------------------------------

async function start() {
  state.index = await getJSON("/api/index");
  const select = $("spec-select");
  select.replaceChildren(...state.index.specs.map((s) => el("option", {value: s, text: s})));
  select.hidden = state.index.specs.length < 2;
  $("runs-tab").hidden = !state.index.runs.length;
  $("spec-tab").hidden = !state.index.specs.length;
  const wanted = decodeURIComponent(location.hash.slice(1));
  const asked = state.index.specs.includes(wanted.replace(/^spec=/, "")) ? wanted.replace(/^spec=/, "") : null;
  state.spec = asked || await firstThatBuilds(state.index.specs);
  if (state.spec) select.value = state.spec;
  await loadSpec();
  // a folder of runs (each with its resolved spec.yaml) opens on its runs
  const inRuns = (spec) => state.index.runs.some((run) => run === "." || spec.startsWith(run + "/"));
  const onlyRuns = state.index.runs.length && state.index.specs.every(inRuns);
  show(wanted === "runs" || !state.spec || (onlyRuns && !wanted) ? "runs" : "spec");
  const events = new EventSource("/api/events");
  events.onmessage = (event) => {
    const {version} = JSON.parse(event.data);
    if (state.view && version !== state.view.version) refresh();
  };
}

async function firstThatBuilds(specs) {   // open on a spec that builds, not on a broken one (at most 8 tried)
  for (const spec of specs.slice(0, 8)) {
    const view = await getJSON("/api/spec?path=" + encodeURIComponent(spec));
    if (!view.error) return spec;
  }
  return specs[0] || null;
}

let refreshing = null;
async function refresh() {       // one at a time; a change during one is picked up by the next
  if (refreshing) { refreshing.again = true; return; }
  refreshing = {again: false};
  try {
    state.index = await getJSON("/api/index");
    $("runs-tab").hidden = !state.index.runs.length;
    await loadSpec();
    if (state.mode === "runs") await loadRuns();
  } finally {
    const again = refreshing.again;
    refreshing = null;
    if (again) refresh();
  }
}

function show(mode) {
  state.mode = mode;
  $("spec-view").hidden = mode !== "spec";
  $("runs-view").hidden = mode !== "runs";
  $("tools").hidden = mode !== "spec";
  $("spec-tab").setAttribute("aria-pressed", mode === "spec");
  $("runs-tab").setAttribute("aria-pressed", mode === "runs");
  if (mode === "runs") loadRuns();
  else if (state.good) draw();
}

// --- the spec ------------------------------------------------------------------------------

async function loadSpec() {
  if (!state.spec) { document.body.dataset.state = "empty"; return; }
  const view = await getJSON("/api/spec?path=" + encodeURIComponent(state.spec));
  state.view = view;
  if (!view.error) state.goods[state.spec] = view;
  state.good = state.goods[state.spec] || null;     // a spec with an error shows its last good diagram, greyed
  if (!state.file || !(view.files || []).includes(state.file)) state.file = view.error ? view.error.file : view.spec;
  renderTotals();
  renderError();
  if (state.mode === "spec") draw();
  renderSource();
  document.body.dataset.version = view.version;
  document.body.dataset.state = view.error ? "error" : "ready";
}

function renderTotals() {
  const view = state.good;
  const box = $("totals");
  if (!view) { box.replaceChildren(el("span", {class: "muted", text: state.spec || "no spec"})); return; }
  const t = view.totals;
  box.replaceChildren(
    el("span", {text: `${view.name}: ${thousands(t.params)} parameters`}),
    el("span", {class: "muted", text: ` (${thousands(t.trainable_params)} trainable) · ${short(t.macs)} MACs · ` +
      `${t.layers} layers · input ${shapeText(t.input_shape)} → output ${shapeText(t.output_shape)}`}));
  $("notes").replaceChildren(...(view.notes || []).map((n) => el("div", {text: n})));
}

function renderError() {
  const error = state.view.error;
  $("error").hidden = !error;
  $("svg").classList.toggle("stale", Boolean(error));
  if (!error) return;
  $("error-message").textContent = error.message;
  const text = error.file && state.view.texts[error.file];
  const context = $("error-context");
  context.replaceChildren();
  if (!text) return;
  const lines = text.split("\n");
  for (let n = Math.max(1, error.line - 3); n <= Math.min(lines.length, error.line + 3); n++) {
    context.append(el("span", {class: n === error.line ? "err" : "", text: `${String(n).padStart(4)}  ${lines[n - 1]}\n`}));
  }
}

// --- the diagram: visible boxes for the expanded state, laid out by dagre ------------------

function boxOf(node) {           // a node shows as itself, or as its outermost closed frame
  for (const frame of node.frames) if (!state.expanded.has(frame)) return "f:" + frame;
  return "n:" + node.id;
}

function layout(view) {
  const g = new dagre.graphlib.Graph({compound: true});
  g.setGraph({rankdir: "TB", nodesep: 22, ranksep: 44, marginx: 24, marginy: 24});
  g.setDefaultEdgeLabel(() => ({}));
  const boxes = new Map();
  for (const node of view.nodes) {
    const id = boxOf(node);
    if (!boxes.has(id)) boxes.set(id, {id, frame: id.startsWith("f:") ? id.slice(2) : null, members: []});
    boxes.get(id).members.push(node);
  }
  for (const box of boxes.values()) {
    g.setNode(box.id, {...BOX, box});
    const frames = box.members[0].frames;
    const open = box.frame ? frames.slice(0, frames.indexOf(box.frame)) : frames;
    let parent = null;
    for (const frame of open) {
      if (!g.hasNode("c:" + frame)) {
        g.setNode("c:" + frame, {frame, paddingTop: 24});
        if (parent) g.setParent("c:" + frame, "c:" + parent);
      }
      parent = frame;
    }
    if (parent) g.setParent(box.id, "c:" + parent);
  }
  const byId = new Map(view.nodes.map((n) => [n.id, n]));
  for (const node of view.nodes) {
    for (const input of node.inputs) {
      const from = byId.has(input) ? boxOf(byId.get(input)) : null;
      const to = boxOf(node);
      if (from && from !== to) g.setEdge(from, to);
    }
  }
  dagre.layout(g);
  return g;
}

function draw() {
  const view = state.good;
  const root = $("viewport");
  if (!view) { root.replaceChildren(); return; }
  const g = layout(view);
  const clusters = el("svg:g"), edges = el("svg:g"), nodes = el("svg:g");
  const defs = el("svg:defs", {}, el("svg:marker", {id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto"}, el("svg:path", {d: "M0,0 L10,5 L0,10 z", fill: "#8b96a5"})));
  for (const id of g.nodes()) {
    const data = g.node(id);
    if (data.frame) clusters.append(drawCluster(view, data));
    else nodes.append(drawBox(view, data));
  }
  for (const e of g.edges()) {
    const points = g.edge(e).points;
    edges.append(el("svg:path", {class: "edge", d: "M" + points.map((p) => `${p.x},${p.y}`).join(" L")}));
  }
  root.replaceChildren(defs, clusters, edges, nodes);
  state.size = {width: g.graph().width, height: g.graph().height};
  if (!state.fitted) fit();
  applyTransform();
  markBoxes();
  $("diagram").dataset.ready = view.version;
}

function drawCluster(view, data) {
  const frame = view.frames[data.frame];
  const x = data.x - data.width / 2, y = data.y - data.height / 2;
  const title = el("svg:text", {x: x + 8, y: y + 15, text: `▾ ${frame.label}` + (frame.block ? ` (${frame.block})` : ""),
    onclick: (event) => { event.stopPropagation(); state.expanded.delete(data.frame); draw(); }});
  return el("svg:g", {class: "cluster", "data-frame": data.frame},
    el("svg:rect", {x, y, width: data.width, height: data.height}), title);
}

function drawBox(view, data) {
  const box = data.box;
  const last = box.members[box.members.length - 1];
  const params = box.members.reduce((sum, n) => sum + n.params, 0);
  const macs = box.members.reduce((sum, n) => sum + n.macs, 0);
  let title = last.id, kind = last.class === last.type ? last.type : `${last.type} · ${last.class}`, cls = "node";
  if (box.frame) {
    const frame = view.frames[box.frame];
    title = "▸ " + frame.label;
    kind = frame.block ? `${frame.block} block · ${box.members.length} layers` : `repeated · ${box.members.length} layers`;
    cls += " frame";
  } else if (last.type === "input" || last.type === "output") cls += " " + last.type;
  const x = data.x - BOX.width / 2, y = data.y - BOX.height / 2;
  const clip = (text, n) => text.length > n ? text.slice(0, n - 1) + "…" : text;
  const group = el("svg:g", {class: cls, "data-box": box.id, onclick: (event) => { event.stopPropagation(); clickBox(box); }},
    el("svg:rect", {x, y, width: BOX.width, height: BOX.height}),
    el("svg:text", {class: "title", x: x + 8, y: y + 15, text: clip(title, 30)}),
    el("svg:text", {class: "small", x: x + 8, y: y + 29, text: clip(kind, 34)}),
    el("svg:text", {x: x + 8, y: y + 43, text: clip(last.shape, 34)}),
    el("svg:text", {class: "small", x: x + 8, y: y + 57,
      text: `${thousands(params)} params` + (macs ? ` · ${short(macs)} MACs` : "")}));
  group.append(el("svg:title", {text: `${title}\n${kind}\n${last.shape}\n${thousands(params)} parameters, ${thousands(macs)} MACs`}));
  return group;
}

function clickBox(box) {
  if (box.frame) {
    state.expanded.add(box.frame);
    select({frame: box.frame});
    draw();
    showTop(box.frame);
  } else select({node: box.members[0].id});
}

function showTop(frame) {              // an opened block's frame: its top near the top of the view
  const rect = $("viewport").querySelector(`.cluster[data-frame="${CSS.escape(frame)}"] > rect`);
  if (!rect) return;
  const svg = $("svg").getBoundingClientRect(), k = state.transform.k;
  const x = Number(rect.getAttribute("x")) + Number(rect.getAttribute("width")) / 2;
  state.transform = {k, x: svg.width / 2 - x * k, y: 40 - Number(rect.getAttribute("y")) * k};
  applyTransform();
}

// --- linking diagram and text -------------------------------------------------------------

function linesOf(selection) {          // [file, first, last] ranges of a node, or of a frame and what it holds
  const view = state.good;
  if (selection.node) return view.nodes.find((n) => n.id === selection.node).lines;
  const ranges = [...view.frames[selection.frame].lines];
  for (const node of view.nodes) if (node.frames.includes(selection.frame)) ranges.push(node.lines[0]);
  return ranges;
}

function select(selection) {
  state.selected = selection;
  state.picked = null;
  const ranges = linesOf(selection);
  if (ranges.length) state.file = ranges[0][0];
  renderSource();
  const first = $("lines").querySelector(".hl");
  if (first) first.scrollIntoView({block: "center"});
  markBoxes();
}

function pickLine(file, line) {        // the nodes written at (or reached through) a line
  state.picked = {file, line};
  state.selected = null;
  renderSource();
  markBoxes();
}

function covers(ranges, file, line) {
  return ranges.some(([f, first, last]) => f === file && first <= line && line <= last);
}

function markBoxes() {
  const view = state.good;
  if (!view) return;
  const query = state.search.toLowerCase();
  const matched = new Set(), linked = new Set();
  for (const node of view.nodes) {
    const id = boxOf(node);
    if (query && [node.id, node.type, node.class].some((t) => t.toLowerCase().includes(query))) matched.add(id);
    if (state.picked && covers(node.lines, state.picked.file, state.picked.line)) linked.add(id);
  }
  const selectedId = state.selected && (state.selected.node ? "n:" + state.selected.node : "f:" + state.selected.frame);
  for (const g of $("viewport").querySelectorAll(".node")) {
    g.classList.toggle("match", matched.has(g.dataset.box));
    g.classList.toggle("linked", linked.has(g.dataset.box));
    g.classList.toggle("selected", g.dataset.box === selectedId);
  }
  const count = query ? view.nodes.filter((n) => [n.id, n.type, n.class].some((t) => t.toLowerCase().includes(query))).length : 0;
  $("search-count").textContent = query ? `${count} layer${count === 1 ? "" : "s"}` : "";
}

function renderSource() {
  const view = state.view;
  const files = view.files || [];
  $("file-tabs").replaceChildren(...files.map((file) => el("button", {type: "button", class: file === state.file ? "open" : "",
    text: file, onclick: () => { state.file = file; renderSource(); }})));
  const text = (view.texts || {})[state.file];
  const box = $("lines");
  if (text === undefined) { box.replaceChildren(); return; }
  const ranges = state.selected && state.good ? linesOf(state.selected) : [];
  const error = view.error && view.error.file === state.file ? view.error.line : null;
  const rows = text.split("\n").map((content, i) => {
    const n = i + 1;
    const classes = ["line"];
    if (covers(ranges, state.file, n)) classes.push("hl");
    if (state.picked && state.picked.file === state.file && state.picked.line === n) classes.push("picked");
    if (n === error) classes.push("err");
    return el("div", {class: classes.join(" "), "data-line": n, onclick: () => pickLine(state.file, n)},
      el("span", {class: "ln", text: n}), el("span", {class: "code", text: content}));
  });
  box.replaceChildren(...rows);
  if (error) box.querySelector(".err").scrollIntoView({block: "center"});
}

// --- search, pan and zoom -----------------------------------------------------------------

function searchNext() {
  const view = state.good;
  const query = state.search.toLowerCase();
  if (!view || !query) return;
  const hits = view.nodes.filter((n) => [n.id, n.type, n.class].some((t) => t.toLowerCase().includes(query)));
  if (!hits.length) return;
  state.hit = (state.hit + 1) % hits.length;
  const node = hits[state.hit];
  node.frames.forEach((f) => state.expanded.add(f));
  draw();
  select({node: node.id});
  const target = $("viewport").querySelector(`[data-box="n:${CSS.escape(node.id)}"] rect`);
  if (target) center(Number(target.getAttribute("x")) + BOX.width / 2, Number(target.getAttribute("y")) + BOX.height / 2);
}

function fit() {
  const svg = $("svg").getBoundingClientRect();
  // the whole width; the whole height too unless the text would get too small to read (then scroll by dragging)
  const k = Math.min(1, svg.width / state.size.width, Math.max(svg.height / state.size.height, 0.75));
  state.transform = {k, x: (svg.width - state.size.width * k) / 2, y: 0};
  state.fitted = true;
}

function center(x, y) {
  const svg = $("svg").getBoundingClientRect();
  const k = Math.max(state.transform.k, 0.8);
  state.transform = {k, x: svg.width / 2 - x * k, y: svg.height / 2 - y * k};
  applyTransform();
}

function applyTransform() {
  const {x, y, k} = state.transform;
  $("viewport").setAttribute("transform", `translate(${x},${y}) scale(${k})`);
}

function panAndZoom() {
  const svg = $("svg");
  svg.addEventListener("wheel", (event) => {
    event.preventDefault();
    const r = svg.getBoundingClientRect(), t = state.transform;
    const k = Math.min(4, Math.max(0.05, t.k * Math.exp(-event.deltaY * 0.0015)));
    const px = event.clientX - r.left, py = event.clientY - r.top;
    state.transform = {k, x: px - (px - t.x) * k / t.k, y: py - (py - t.y) * k / t.k};
    applyTransform();
  }, {passive: false});
  let drag = null;
  svg.addEventListener("pointerdown", (event) => {
    if (event.target.closest(".node, .cluster text")) return;
    drag = {x: event.clientX - state.transform.x, y: event.clientY - state.transform.y};
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (!drag) return;
    state.transform = {...state.transform, x: event.clientX - drag.x, y: event.clientY - drag.y};
    applyTransform();
  });
  svg.addEventListener("pointerup", () => { drag = null; });
}

// --- runs -------------------------------------------------------------------------------

async function loadRuns() {
  const all = state.index.runs;
  if (!state.runs) state.runs = new Set(all.slice(0, 8));
  for (const run of [...state.runs]) if (!all.includes(run)) state.runs.delete(run);
  $("run-list").replaceChildren(...all.map((run) => el("label", {},
    el("input", {type: "checkbox", ...(state.runs.has(run) ? {checked: ""} : {}), onchange: (event) => {
      if (event.target.checked) state.runs.add(run); else state.runs.delete(run);
      loadRuns();
    }}), ` ${run}`)));
  const chosen = all.filter((run) => state.runs.has(run));
  const data = await Promise.all(chosen.map((run) => getJSON("/api/run?path=" + encodeURIComponent(run))));
  renderRuns(data);
}

function renderRuns(runs) {
  state.charts.forEach((chart) => chart.destroy());
  state.charts = [];
  $("run-problems").replaceChildren(...runs.flatMap((r) => r.problems.map((p) => el("div", {text: `${r.path}: ${p}`}))));
  const metrics = new Set();
  for (const run of runs) for (const row of run.history) for (const key of Object.keys(row)) {
    if (key !== "epoch" && key !== "learning_rate") metrics.add(key.replace(/^val_/, ""));
  }
  const label = runLabels(runs.map((r) => r.path));
  const palette = ["#2f6fdb", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c2255c", "#5c940d"];
  const charts = $("charts");
  charts.replaceChildren();
  const groups = new Map();     // runs on different data are not compared on one plot
  runs.forEach((run, i) => {
    const data = typeof run.record.data === "string" ? run.record.data : "";
    if (!groups.has(data)) groups.set(data, []);
    groups.get(data).push([run, i]);
  });
  for (const [data, group] of groups) for (const metric of metrics) {
    if (!group.some(([run]) => run.history.some((h) => metric in h || "val_" + metric in h))) continue;
    const epochs = [...new Set(group.flatMap(([r]) => r.history.map((h) => h.epoch)))].sort((a, b) => a - b);
    const series = [{label: "epoch"}], columns = [epochs];
    group.forEach(([run, i]) => {
      for (const [key, dash] of [[metric, undefined], ["val_" + metric, [6, 4]]]) {
        if (!run.history.some((h) => key in h)) continue;
        const values = new Map(run.history.map((h) => [h.epoch, h[key] ?? null]));
        columns.push(epochs.map((e) => values.has(e) ? values.get(e) : null));
        series.push({label: `${label.get(run.path)} ${key}`, stroke: palette[i % palette.length], width: 2, dash, spanGaps: true});
      }
    });
    const caption = groups.size > 1 ? `${metric} on ${data || "(data not recorded)"}` : metric;
    const figure = el("figure", {"data-metric": metric, "data-data": data}, el("figcaption", {text: caption}));
    charts.append(figure);
    state.charts.push(new uPlot({width: 520, height: 260, series, scales: {x: {time: false}},
      axes: [{label: "epoch"}, {}], legend: {live: false}}, columns, figure));
  }
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))]
    .filter((k) => runs.every((r) => r.metrics[k] === undefined || typeof r.metrics[k] === "number"))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const table = $("metrics-table");
  table.replaceChildren(el("tr", {}, el("th", {text: "run"}), ...keys.map((k) => el("th", {text: k}))),
    ...runs.map((r) => el("tr", {}, el("td", {text: rounded(r.path)}), ...keys.map((k) => el("td", {text: cell(r.metrics[k])})))));
  const first = runs[0];
  $("run-name").textContent = first ? `(${first.path})` : "";
  $("run-spec").textContent = first ? first.spec : "";
  $("run-record").textContent = first ? JSON.stringify(first.record, null, 1) : "";
  document.body.dataset.runs = runs.map((r) => r.path).join(",");
}

function runLabels(paths) {      // runs of one sweep are told apart by what follows their common folder
  const parts = paths.map((p) => p.split("/"));
  let common = 0;
  while (paths.length > 1 && parts.every((p) => p.length > common + 1 && p[common] === parts[0][common])) common++;
  return new Map(paths.map((p, i) => [p, p === "." ? state.index.title : rounded(parts[i].slice(common).join("/"))]));
}

// 0.0007056544958930657 -> 0.0007057: long numbers in run names (a search's values) shown to 4 significant digits
const rounded = (text) => text.replace(/\d*\.\d{5,}(e-?\d+)?/g, (n) => String(Number(Number(n).toPrecision(4))));

const rank = (key) => key.startsWith("test_") ? 0 : key.startsWith("val_") ? 1 : 2;
const cell = (value) => typeof value !== "number" ? "" : Number.isInteger(value) ? thousands(value)
  : Math.abs(value) >= 100 ? value.toFixed(1) : value.toFixed(4);

// --- controls -----------------------------------------------------------------------------

function controls() {
  $("spec-select").addEventListener("change", (event) => {
    state.spec = event.target.value;
    state.expanded.clear(); state.selected = null; state.picked = null; state.file = null; state.fitted = false;
    location.hash = "spec=" + encodeURIComponent(state.spec);
    loadSpec();
  });
  $("spec-tab").addEventListener("click", () => show("spec"));
  $("runs-tab").addEventListener("click", () => { location.hash = "runs"; show("runs"); });
  $("search").addEventListener("input", (event) => { state.search = event.target.value; state.hit = -1; markBoxes(); });
  $("search").addEventListener("keydown", (event) => { if (event.key === "Enter") searchNext(); });
  $("expand-all").addEventListener("click", () => {
    if (state.good) Object.keys(state.good.frames).forEach((f) => state.expanded.add(f));
    draw();
  });
  $("collapse-all").addEventListener("click", () => { state.expanded.clear(); draw(); });
  $("fit").addEventListener("click", () => { state.fitted = false; draw(); });
  $("svg").addEventListener("click", () => { state.selected = null; state.picked = null; renderSource(); markBoxes(); });
  panAndZoom();
}

controls();
start().catch((err) => {
  document.body.dataset.state = "failed";
  $("totals").textContent = `The page could not load: ${err.message}`;
});
