// The search page: calls /map/search and draws the results and the map. No framework, no build.
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
  drawLegend();
  drawMap();
}

async function start() {
  try {
    const info = await getJSON("/info");
    $("index-info").textContent =
      `${info.documents.toLocaleString()} documents, ${info.passages.toLocaleString()} passages (${info.version})`;
    const mode = document.querySelector(`input[name=mode][value=${info.default_mode}]`);
    if (mode) mode.checked = true;
    await loadMap();
  } catch (error) {
    showStatus(`Could not load the index: ${error.message}`, true);
  }
}

function showStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}

async function search(event) {
  event.preventDefault();
  const q = $("query").value;
  if (!q.trim()) { showStatus("Type a query first."); return; }
  const mode = document.querySelector("input[name=mode]:checked");
  const params = new URLSearchParams({ q, k: "10" });
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
    head.append(span("rank", `${hit.rank}.`), span("doc-id", hit.id), score);
    if (hit.source !== hit.id) head.append(span("source", hit.source));
    const snippet = document.createElement("p");
    snippet.className = "snippet";
    snippet.textContent = shorten(hit.text, 300);
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
  state.map.groups.forEach((name, i) => {
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
  for (let i = 0; i < map.x.length; i++) {
    context.fillStyle = COLOURS[map.group[i] % COLOURS.length];
    const [px, py] = place(map.x[i], map.y[i]);
    context.fillRect(px - size / 2, py - size / 2, size, size);
  }
  context.globalAlpha = 1;
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

// A function from map coordinates to canvas pixels that fits every point with a margin.
function fit(xs, ys, width, height, margin) {
  const minX = Math.min(...xs), maxX = Math.max(...xs), minY = Math.min(...ys), maxY = Math.max(...ys);
  const spanX = maxX - minX || 1, spanY = maxY - minY || 1;
  const unit = Math.min((width - 2 * margin) / spanX, (height - 2 * margin) / spanY);
  const offsetX = (width - unit * spanX) / 2, offsetY = (height - unit * spanY) / 2;
  return (x, y) => [offsetX + (x - minX) * unit, height - (offsetY + (y - minY) * unit)];
}

$("search-form").addEventListener("submit", search);
document.querySelectorAll("input[name=mode]").forEach((radio) =>
  radio.addEventListener("change", () => { if ($("query").value.trim()) $("search-form").requestSubmit(); }));
start();
