// A document page: /doc/<id>?passage=<passage id>&q=...&mode=... shows the document's text with
// that passage highlighted and scrolled to; "vecsearch" leads back to the same search.
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
  mark.textContent = body.text.slice(span.start, span.end);
  article.append(body.text.slice(0, span.start), mark, body.text.slice(span.end));
  mark.scrollIntoView({ block: "center" });
}

show().catch((error) => fail(`Could not show the document: ${error.message}`));
