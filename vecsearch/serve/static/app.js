// The search page: calls /map/search and draws the results and the map. No framework, no build.
// The URL carries the search (/?q=...&mode=...): shareable, and a reload or Back shows it again.
// Keys: "/" goes to the query box, the arrow keys move through the hits, Enter opens one.
"use strict";

const COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#76b7b2", "#edc948", "#b07aa1",
                 "#ff9da7", "#9c755f", "#e15759", "#8cd17d", "#86bcb6", "#bab0ac"];
const state = { map: null, version: null, found: null, active: -1 };
const $ = (id) => document.getElementById(id);

async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body;
}

async function loadMap() {
  state.map = await getJSON("/map");
  state.version = state.map.version;
  $("layout").textContent = state.map.layout === "tsne" ? "t-SNE" : "PCA";
  drawLegend();
  drawMap();
}

async function start() {
  try {
    const info = await getJSON("/info");
    $("index-info").textContent =
      `${info.documents.toLocaleString()} documents, ${info.passages.toLocaleString()} passages (${info.version})`;
    state.defaultMode = info.default_mode;
    await loadMap();
    await fromLocation();
  } catch (error) {
    showStatus(`Could not load the index: ${error.message}`, true);
  }
}

function showStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}

// Show the search the URL names (or the empty page, with example queries).
async function fromLocation() {
  const params = new URLSearchParams(location.search);
  const wanted = params.get("mode") || state.defaultMode;
  const mode = document.querySelector(`input[name=mode][value="${CSS.escape(wanted || "")}"]`);
  if (mode) mode.checked = true;
  $("query").value = params.get("q") || "";
  if ($("query").value.trim()) {
    await run();
  } else {
    state.found = null;
    $("results").replaceChildren();
    showExamples();
    drawMap();
  }
}

// Example queries: the labels of the largest clusters, whose words the collection is about.
function showExamples() {
  const box = $("examples");
  box.replaceChildren();
  if (!state.map || !state.map.clusters.length) return;
  box.append(document.createTextNode("Try: "));
  state.map.clusters.slice(0, 4).forEach((label, i) => {
    const link = document.createElement("a");
    const text = label.split(", ").slice(0, 2).join(" ");
    link.href = `/?${new URLSearchParams({ q: text })}`;
    link.textContent = text;
    link.addEventListener("click", (event) => { event.preventDefault(); $("query").value = text; search(event); });
    if (i) box.append(document.createTextNode(" · "));
    box.append(link);
  });
  showStatus("");
}

async function search(event) {
  event.preventDefault();
  const q = $("query").value;
  if (!q.trim()) { showStatus("Type a query first."); return; }
  const mode = document.querySelector("input[name=mode]:checked");
  const shown = new URLSearchParams({ q });
  if (mode && mode.value !== state.defaultMode) shown.set("mode", mode.value);
  if (location.search !== `?${shown}`) history.pushState(null, "", `/?${shown}`);
  await run();
}

async function run() {
  const q = $("query").value;
  $("examples").replaceChildren();
  const mode = document.querySelector("input[name=mode]:checked");
  const params = new URLSearchParams({ q, k: "10", explain: "true" });  // only the hits shown are explained
  if (mode) params.set("mode", mode.value);
  showStatus("Searching...");
  const started = performance.now();
  try {
    const found = await getJSON(`/map/search?${params}`);
    if (found.version !== state.version) await loadMap();  // a writer published a new version
    state.found = found;
    state.active = -1;
    const ms = Math.round(performance.now() - started);
    showStatus(`${found.hits.length} results in ${ms} ms (${mode ? mode.value : "default"} search)`);
    drawResults();
    drawMap();
  } catch (error) {
    showStatus(error.message, true);
  }
}

const SCORE_HELP = {
  cosine: "cosine similarity of the query's and the passage's RNN vectors (-1 to 1)",
  bm25: "BM25 score: comparable only within one query",
  rrf: "reciprocal-rank fusion of the dense and BM25 rankings",
};

function drawResults() {
  const list = $("results");
  list.replaceChildren();
  state.found.hits.forEach((hit, i) => {
    const item = document.createElement("li");
    item.className = "hit";
    item.dataset.id = hit.id;
    const head = document.createElement("div");
    head.className = "hit-head";
    const score = span("score", `${hit.score_kind} ${hit.score.toFixed(4)}`);
    score.title = SCORE_HELP[hit.score_kind] || "";
    const link = document.createElement("a");
    link.className = "doc-id";
    link.textContent = hit.id;
    const back = new URLSearchParams(location.search);
    back.set("passage", hit.passage_id);
    link.href = `/doc/${encodeURIComponent(hit.id)}?${back}`;
    link.addEventListener("focus", () => { state.active = i; drawMap(); });
    link.addEventListener("blur", () => { state.active = -1; drawMap(); });
    head.append(span("rank", `${hit.rank}.`), link, score);
    if (hit.source !== hit.id) head.append(span("source", hit.source));
    const snippet = document.createElement("p");
    snippet.className = "snippet";
    snippet.append(...marked(hit.text, hit.snippet));
    item.append(head);
    if (hit.metadata) {
      const fields = Object.entries(hit.metadata).map(([name, value]) => `${name}: ${JSON.stringify(value)}`);
      item.append(span("metadata", shorten(fields.join(" · "), 200)));
    }
    item.append(snippet);
    item.addEventListener("mouseenter", () => { state.active = i; drawMap(); });
    item.addEventListener("mouseleave", () => { state.active = -1; drawMap(); });
    list.append(item);
  });
}

// The snippet's window of the passage as text nodes, each query word in a <mark>, each word
// carrying the dense score (snippet.semantic, when explained) in a <mark class="semantic">.
function marked(text, snippet) {
  const nodes = [];
  let at = snippet.start;
  if (at > 0) nodes.push(document.createTextNode("... "));
  const marks = snippet.marks.map(([start, end]) => [start, end, ""])
    .concat((snippet.semantic || []).map(([start, end]) => [start, end, "semantic"]))
    .sort((a, b) => a[0] - b[0]);
  for (const [start, end, kind] of marks) {
    nodes.push(document.createTextNode(text.slice(at, start)));
    const mark = document.createElement("mark");
    if (kind) {
      mark.className = kind;
      mark.title = "carries the passage's cosine with the query (not one of its words)";
    }
    mark.textContent = text.slice(start, end);
    nodes.push(mark);
    at = end;
  }
  nodes.push(document.createTextNode(text.slice(at, snippet.end) + (snippet.end < text.length ? " ..." : "")));
  return nodes;
}

function span(className, text) {
  const element = document.createElement("span");
  element.className = className;
  element.textContent = text;
  return element;
}

function shorten(text, limit) {
  const flat = text.split(/\s+/).join(" ");
  return flat.length <= limit ? flat : flat.slice(0, flat.lastIndexOf(" ", limit)) + " ...";
}

function drawLegend() {
  const legend = $("legend");
  legend.replaceChildren();
  state.map.clusters.forEach((name, i) => {
    const entry = document.createElement("span");
    const swatch = span("swatch", "");
    swatch.style.background = COLOURS[i % COLOURS.length];
    entry.append(swatch, document.createTextNode(name));
    legend.append(entry);
  });
}

function drawMap() {
  const canvas = $("map");
  const context = canvas.getContext("2d");
  const scale = window.devicePixelRatio || 1;
  const width = 560, height = 480;
  canvas.width = width * scale;
  canvas.height = height * scale;
  context.setTransform(scale, 0, 0, scale, 0, 0);
  context.clearRect(0, 0, width, height);
  const map = state.map;
  if (!map || !map.x.length) return;
  const xs = map.x.slice(), ys = map.y.slice();
  if (state.found) {
    xs.push(state.found.query[0], ...state.found.points.map((p) => p[0]));
    ys.push(state.found.query[1], ...state.found.points.map((p) => p[1]));
  }
  const place = fit(xs, ys, width, height, 14);
  const size = map.x.length > 2000 ? 3 : 5;
  context.globalAlpha = state.found ? 0.45 : 0.8;
  state.placed = [];
  for (let i = 0; i < map.x.length; i++) {
    context.fillStyle = COLOURS[map.cluster[i] % COLOURS.length];
    const [px, py] = place(map.x[i], map.y[i]);
    state.placed.push([px, py]);
    context.fillRect(px - size / 2, py - size / 2, size, size);
  }
  context.globalAlpha = 1;
  drawClusterLabels(context, place);
  if (!state.found) return;
  const [qx, qy] = place(state.found.query[0], state.found.query[1]);
  state.found.points.forEach((point, i) => {
    const [px, py] = place(point[0], point[1]);
    context.strokeStyle = "rgba(212,0,0,0.35)";
    context.beginPath(); context.moveTo(qx, qy); context.lineTo(px, py); context.stroke();
    context.fillStyle = i === state.active ? "#ffb000" : "#111";
    context.beginPath(); context.arc(px, py, i === state.active ? 6 : 4, 0, 2 * Math.PI); context.fill();
    context.fillStyle = "#fff";
    context.font = "9px sans-serif";
    context.textAlign = "center";
    context.fillText(String(i + 1), px, py + 3);
  });
  context.fillStyle = "#d40000";
  context.beginPath();
  context.moveTo(qx, qy - 8); context.lineTo(qx + 8, qy); context.lineTo(qx, qy + 8); context.lineTo(qx - 8, qy);
  context.closePath(); context.fill();
}

// Each cluster's label at the median of its points.
function drawClusterLabels(context, place) {
  const map = state.map;
  context.font = "bold 11px sans-serif";
  context.textAlign = "center";
  map.clusters.forEach((label, c) => {
    const xs = [], ys = [];
    map.cluster.forEach((k, i) => { if (k === c) { xs.push(map.x[i]); ys.push(map.y[i]); } });
    if (!xs.length) return;
    const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const [x, py] = place(median(xs), median(ys));
    const width = context.measureText(label).width + 8;
    const px = Math.min(Math.max(x, width / 2 + 2), 560 - width / 2 - 2);  // inside the canvas
    context.fillStyle = "rgba(255,255,255,0.8)";
    context.fillRect(px - width / 2, py - 8, width, 15);
    context.fillStyle = "#222";
    context.fillText(label, px, py + 3);
  });
}

// Hovering a dot names its document and cluster.
function hover(event) {
  const tip = $("map-tip");
  if (!state.placed || !state.map) return;
  const box = $("map").getBoundingClientRect();
  const x = event.clientX - box.left, y = event.clientY - box.top;
  let best = -1, bestDistance = 36;  // within 6 px
  state.placed.forEach(([px, py], i) => {
    const distance = (px - x) ** 2 + (py - y) ** 2;
    if (distance < bestDistance) { best = i; bestDistance = distance; }
  });
  if (best < 0) { tip.hidden = true; return; }
  tip.textContent = `${state.map.doc_id[best]} · ${state.map.clusters[state.map.cluster[best]]}`;
  tip.style.left = `${x + 12}px`;
  tip.style.top = `${y + 12}px`;
  tip.hidden = false;
}

// A function from map coordinates to canvas pixels that fits every point with a margin.
function fit(xs, ys, width, height, margin) {
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const spanX = maxX - minX || 1, spanY = maxY - minY || 1;
  const unit = Math.min((width - 2 * margin) / spanX, (height - 2 * margin) / spanY);
  const offsetX = (width - unit * spanX) / 2, offsetY = (height - unit * spanY) / 2;
  return (x, y) => [offsetX + (x - minX) * unit, height - (offsetY + (y - minY) * unit)];
}

function keys(event) {
  const typing = ["INPUT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (event.key === "/" && !typing) { event.preventDefault(); $("query").focus(); $("query").select(); return; }
  if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
  const links = [...document.querySelectorAll("#results a.doc-id")];
  if (!links.length || (typing && event.key === "ArrowUp")) return;
  event.preventDefault();
  const at = links.indexOf(document.activeElement);
  const next = event.key === "ArrowDown" ? Math.min(at + 1, links.length - 1) : at - 1;
  if (next < 0) $("query").focus(); else links[next].focus();
}

$("search-form").addEventListener("submit", search);
window.addEventListener("popstate", fromLocation);
document.addEventListener("keydown", keys);
$("map").addEventListener("mousemove", hover);
$("map").addEventListener("mouseleave", () => { $("map-tip").hidden = true; });
document.querySelectorAll("input[name=mode]").forEach((radio) =>
  radio.addEventListener("change", () => { if ($("query").value.trim()) $("search-form").requestSubmit(); }));
start();
