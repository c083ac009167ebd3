// A document page: /doc/<id>?passage=<passage id>&q=...&mode=... shows the document's text with
// that passage highlighted and scrolled to, each of its words tinted by its share of the passage's
// cosine with the query (/explain); "vecsearch" leads back to the same search.
"use strict";

const $ = (id) => document.getElementById(id);

function fail(message) {
  $("status").textContent = message;
  $("status").className = "error";
  document.title = "vecsearch: no document";
}

async function show() {
  let id;
  try {
    id = decodeURIComponent(location.pathname.slice("/doc/".length));
  } catch (error) { // a malformed %-escape (URIError): say so, rather than leave the page blank
    fail(`This address names no document: ${location.pathname} holds a malformed %-escape.`);
    return;
  }
  const params = new URLSearchParams(location.search);
  const back = new URLSearchParams();
  for (const name of ["q", "mode"]) if (params.get(name)) back.set(name, params.get(name));
  if ([...back].length) $("back").href = `/?${back}`;
  $("doc-id").textContent = id;
  document.title = `vecsearch: ${id}`;
  const response = await fetch(`/document?${new URLSearchParams({ id })}`);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    fail(body.detail || `${response.status} ${response.statusText}`);
    return;
  }
  if (body.source !== body.id) $("doc-source").textContent = body.source;
  if (body.metadata) {
    $("doc-metadata").textContent = Object.entries(body.metadata)
      .map(([name, value]) => `${name}: ${JSON.stringify(value)}`).join(" · ");
  }
  const wanted = Number(params.get("passage"));
  const span = body.passages.find((p) => p.passage_id === wanted);
  const article = $("doc-text");
  if (!span) { article.textContent = body.text; return; }
  const mark = document.createElement("mark");
  mark.id = "passage";
  const passage = body.text.slice(span.start, span.end);
  mark.textContent = passage;
  article.append(body.text.slice(0, span.start), mark, body.text.slice(span.end));
  mark.scrollIntoView({ block: "center" });
  if (params.get("q") && params.get("mode") !== "lexical") await tint(mark, passage, params.get("q"), wanted);
}

// Each word of the passage on a background as strong as its share of the cosine (orange: toward
// the query; blue: away from it), its share in its title; a note says what the tints add up to.
async function tint(mark, passage, q, passageId) {
  const response = await fetch(`/explain?${new URLSearchParams({ q, passage_id: passageId })}`);
  const explanation = await response.json().catch(() => ({}));
  if (!response.ok) {
    $("explain-note").textContent = `No tints: ${explanation.detail || response.statusText}`;
    return;
  }
  const strongest = Math.max(1e-9, ...explanation.words.map(([, , share]) => Math.abs(share)));
  const nodes = [];
  let at = 0;
  for (const [start, end, share] of explanation.words) {
    if (start < at) continue;
    nodes.push(document.createTextNode(passage.slice(at, start)));
    const word = document.createElement("span");
    word.className = share >= 0 ? "share toward" : "share away";
    word.style.setProperty("--strength", (Math.abs(share) / strongest).toFixed(3));
    word.title = `${share >= 0 ? "+" : ""}${share.toFixed(4)} of the cosine ${explanation.score.toFixed(4)}`;
    word.textContent = passage.slice(start, end);
    nodes.push(word);
    at = end;
  }
  nodes.push(document.createTextNode(passage.slice(at)));
  mark.replaceChildren(...nodes);
  mark.classList.add("tinted");
  const words = explanation.score - explanation.rest;
  $("explain-note").textContent =
    `The passage's words are tinted by their share of its cosine with “${q}”: ${explanation.score.toFixed(3)} = ` +
    `${words.toFixed(3)} from its words + ${explanation.rest.toFixed(3)} that no word carries (the projection's bias). ` +
    "Orange draws toward the query, blue away; hover a word for its share.";
}

show().catch((error) => fail(`Could not show the document: ${error.message}`));
