"""The `vecsearch` command line: parse, call the Retriever, print. No logic of its own.

Heavy modules (torch, faiss, datasets) are imported inside the commands, so that
`--help` answers at once.

Everything printed for people passes through `_shown`: ids, texts, metadata and file names come
from a corpus, and a control character in one (an escape sequence that sets the window title or
clears the screen, a line break in a file name) is printed as its escape, never acted on.
`--json` output is exact JSON, with every control character escaped (`_json`).
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
import time
from pathlib import Path

import click

from .errors import VecsearchError
from .version import __version__

DEFAULT_INDEX = "indexes/default"
# what a terminal acts on or cannot print: C0 controls, DEL, C1 controls, and lone surrogates
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_JSON_RAW = re.compile("[\x7f-\x9f\ud800-\udfff]")  # what json.dumps(ensure_ascii=False) leaves raw
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _shown(value) -> str:
    """`value` as text a terminal prints as it is: each control character as its escape (\\x1b, \\n)."""
    return _CONTROL.sub(lambda match: _escape(match.group()), str(value))


def _escape(char: str) -> str:
    code = ord(char)
    return _NAMED_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def _json(value) -> str:
    """`value` as one line of JSON, non-ASCII text as it is but every control character escaped
    (JSON escapes C0 itself; DEL, C1 and lone surrogates can only stand inside its strings)."""
    return _JSON_RAW.sub(lambda match: f"\\u{ord(match.group()):04x}", json.dumps(value, ensure_ascii=False))


class _Group(click.Group):
    """Turns expected failures into one line on stderr and a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except VecsearchError as error:
            click.echo(f"error: {_shown(error)}", err=True)
            ctx.exit(1)
        except BrokenPipeError:  # e.g. `vecsearch query ... | head`: the reader left; not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # so Python's exit flush does not fail
            ctx.exit(0)
        except KeyboardInterrupt:
            click.echo("interrupted; the index was left as it was", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:
            if os.environ.get("VECSEARCH_DEBUG"):
                raise
            click.echo(f"error: {type(error).__name__}: {_shown(error)} (VECSEARCH_DEBUG=1 shows the traceback)", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vecsearch")
def main():
    """Semantic search with a recurrent neural network that knows English and adapts to your documents.

    \b
      vecsearch index corpus/            embed corpus/ with the base encoder (distilled on it if large) and index it
      vecsearch index corpus/            again: add, update and remove what changed
      vecsearch query "some question"    search the index
      vecsearch remove ID...             remove documents
      vecsearch export --backend milvus --uri milvus.db   move the index to Milvus
      vecsearch info                     describe the index
      vecsearch verify                   check the index's files against their checksums
      vecsearch serve                    a search page and JSON API on http://127.0.0.1:8000/
      vecsearch plot -o map.png          a map of the passages
    """


def index_option(function):
    return click.option(
        "-i",
        "--index",
        "index_dir",
        default=DEFAULT_INDEX,
        envvar="VECSEARCH_INDEX",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Index directory (or set VECSEARCH_INDEX).",
    )(function)


def wait_option(function):
    return click.option(
        "--wait", type=click.FloatRange(0), default=0, show_default=True, metavar="SECONDS",
        help="If another process is writing the index, wait up to this long for it (e.g. --wait 60) "
             "instead of stopping at once.",
    )(function)


def _with_options(options: list, function):
    """`function` decorated with click `options`, listed in the order --help shows them."""
    for option in reversed(options):
        function = option(function)
    return function


def backend_options(function=None, *, required: bool = False):
    """Where vectors and passages live: `index`, `export` (where --backend is required) and `eval`."""
    if function is None:
        return lambda f: backend_options(f, required=required)
    backend_help = ("faiss (files in the index directory) or milvus (needs vecsearch[milvus]): the backend to move to."
                    if required else
                    "faiss (files in the index directory; the default for a new index) or milvus "
                    "(needs vecsearch[milvus]). An existing index keeps its backend unless this is given.")
    options = [
        # click 8.5 takes an explicit default=None as a value given: a required option has none
        click.option("--backend", type=click.Choice(["faiss", "milvus"]), help=backend_help,
                     **({"required": True} if required else {"default": None})),
        click.option("--uri", default=None,
                     help="Milvus: a local file for Milvus Lite (e.g. --uri milvus.db) or a server "
                          "(e.g. --uri http://localhost:19530; token from MILVUS_TOKEN)."),
        click.option("--collection", default=None,
                     help="Milvus: prefix of the index's collections, one per version (default: from the "
                          "index directory's name and path)."),
    ]
    return _with_options(options, function)


def training_options(function):
    """Options of the encoder and its training, shared by `index`, `train` and `eval`."""
    options = [
        click.option("--cell", type=click.Choice(["simple", "gru", "lstm"]), default="lstm", show_default=True,
                     help="Recurrent cell: the textbook Elman cell, GRU or LSTM."),
        click.option("--pooling", type=click.Choice(["mean", "max", "last"]), default="mean", show_default=True,
                     help="How hidden states become one vector ('last' = final hidden state)."),
        click.option("--hidden", "hidden_dim", type=click.IntRange(8, 4096), default=128, show_default=True,
                     help="Hidden units per direction."),
        click.option("--bidirectional/--unidirectional", default=True, show_default=True,
                     help="Read the text in both directions."),
        click.option("--steps", type=click.IntRange(1), default=None,
                     help="Training steps (default: the training recipe's)."),
        click.option("--train-minutes", type=click.FloatRange(0, min_open=True), default=None,
                     help="Stop training after this many minutes, whatever the steps."),
        click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same model)."),
        click.option("--teacher", default="auto", show_default=True, metavar="auto|none|all-MiniLM-L6-v2|DIR",
                     help="What adapting the base distils from: 'auto' is all-MiniLM-L6-v2 where installed "
                          "(vecsearch[train]), 'none' adapts self-supervised (BM25-taught "
                          "pseudo-queries), a folder another sentence-transformers model. A teacher named "
                          "adapts whatever the corpus size."),
        click.option("--base", default="default", show_default=True, metavar="default|none|DIR",
                     help="The encoder to start from: the one that ships with vecsearch, 'none' (train one from "
                          "scratch on the corpus, with its own tokenizer), or a folder from `vecsearch train`."),
        click.option("--adapt", type=click.Choice(["auto", "yes", "no"]), default="auto", show_default=True,
                     help="Train the base further on the corpus: 'auto' does on corpora of 1,000 passages or more "
                          "and uses the base as it is below that (and without torch, saying so). Training "
                          "needs vecsearch[train]."),
    ]
    return _with_options(options, function)


SHAPE_OPTIONS = ("cell", "pooling", "hidden_dim", "bidirectional")


def _training(cell, pooling, hidden_dim, bidirectional, steps, train_minutes, seed, teacher, base, adapt) -> dict:
    """The BuildOptions fields that the training options give."""
    from .training.config import TrainConfig

    shaped = [name for name in SHAPE_OPTIONS if _given(name)]
    if shaped and base != "none":
        names = ", ".join("--" + n.replace("_dim", "").replace("_", "-") for n in shaped)
        raise click.UsageError(f"{names} shape a new encoder; the base encoder has its own: add --base none "
                               "to train one from scratch")
    train_config = TrainConfig(seed=seed, minutes=train_minutes)
    if steps is not None:
        train_config.steps = steps
    encoder_config = {"cell": cell, "pooling": pooling, "hidden_dim": hidden_dim, "bidirectional": bidirectional}
    if base != "none":
        encoder_config = None  # the base's own
    return {"encoder_config": encoder_config, "train_config": train_config, "teacher": teacher, "base": base, "adapt": adapt}


@main.command()
@click.argument("path", type=click.Path())
@index_option
@click.option("--text-field", default="text", show_default=True,
              help="Field holding the text in JSON/CSV/Parquet records, e.g. --text-field body.")
@click.option("--glob", "globs", multiple=True, metavar="PATTERN",
              help="Read the files matching PATTERN (by path within PATH or by name; repeatable) instead of "
                   "those of a known type, e.g. --glob '*.py' --glob '*.txt'.")
@click.option("--model", type=click.Path(file_okay=False), default=None,
              help="Use this trained encoder (from `vecsearch train`, or another index) instead of training, "
                   "e.g. --model models/docs. On an existing index, re-embeds everything with it.")
@click.option("--retrain", is_flag=True,
              help="On an existing index: train a new encoder on the corpus and re-embed everything "
                   "(default: keep the index's encoder and embed only new and changed documents).")
@click.option("--index-type", type=click.Choice(["auto", "flat", "hnsw", "ivf"]), default="auto", show_default=True,
              help="FAISS index: exact 'flat', or approximate 'hnsw'/'ivf'; 'auto' picks by size (e.g. --index-type hnsw).")
@backend_options
@wait_option
@training_options
@click.option("--json", "as_json", is_flag=True,
              help='Print one JSON object: {"added", "updated", "removed", "unchanged", "skipped", "passages", ...}.')
def index(path, index_dir, text_field, globs, model, retrain, index_type, backend, uri, collection, wait, as_json,
          **training):
    """Index the documents in PATH: build a new index, or bring an existing one up to date.

    PATH is a folder (read recursively) or a file. .txt/.md/.rst files are one
    document each (files over 8 MB are read in 1 MB sections, NAME#1, NAME#2, ...);
    .jsonl/.json/.csv/.parquet files hold one document per record; --glob picks other
    files. A record's fields other than its id and text are kept as metadata (query --where).
    PATH "-" reads standard input: JSON Lines, or else one plain-text document; it adds to
    (or updates) an existing index instead of replacing what it holds.

    A new index starts from the base encoder that ships with vecsearch: a corpus of
    fewer than 1,000 passages is embedded by it as it is (no training), a larger one
    adapts it first by distilling all-MiniLM-L6-v2 on the corpus (--adapt, --teacher; a few
    minutes for a thousand documents; --base none trains from scratch). Run again on an existing index, it adds
    new documents, re-embeds changed ones, removes those no longer in PATH, and
    keeps everything else as it is - no retraining unless --retrain. Files that
    cannot be read are reported and skipped; what they held stays indexed.

    \b
    Examples:
      vecsearch index docs/ --index indexes/docs
      vecsearch index docs/ --index indexes/docs --json     # later: only what changed
      vecsearch index docs/ --index indexes/docs --retrain  # a new encoder
      vecsearch index docs/ --backend milvus --uri milvus.db  # vectors and passages in Milvus Lite
      vecsearch index src/ --glob '*.py'                   # files by pattern
      producer | vecsearch index - --index indexes/feed    # JSON Lines from a pipe, added
    """
    from .corpus import CorpusReport, read_stdin
    from .indexing import BuildOptions
    from .retriever import Retriever
    from .storage.indexdir import POINTER

    options = BuildOptions(text_field=text_field, model=model, index_type=index_type, retrain=retrain,
                           backend=backend, uri=uri, collection=collection, **_training(**training))
    report = CorpusReport()
    started = time.perf_counter()
    if path == "-":
        documents = read_stdin(sys.stdin, text_field, report)
        if not documents:
            raise click.UsageError("no documents on standard input" + _shown(report.describe_skips()))
        if (Path(index_dir) / POINTER).exists() and not retrain and model is None:
            retriever = Retriever.load(index_dir)
            retriever.last_update = retriever.add(documents, wait=wait, report=report, show_progress=True)
        else:
            retriever = Retriever.build(documents, index_dir, options, wait=wait, report=report)
    else:
        retriever = Retriever.build(path, index_dir, options, globs=globs, wait=wait, report=report)
    update = retriever.last_update
    summary = {
        **{key: getattr(update, key) for key in ("added", "updated", "removed", "unchanged", "skipped", "cut", "passages")},
        "documents": update.documents,
        "files": report.files,
        "index": index_dir,
        "version": retriever.version_dir.name,
        "written": update.version is not None,
        "retrained": update.retrained,
        "seconds": round(time.perf_counter() - started, 2),
        "timings": {name: round(seconds, 2) for name, seconds in update.timings.items()},
        "notes": update.notes,
    }
    retriever.close()
    _print_notes(update.notes)
    _print_skipped(report)
    _print_cut(report)
    if report.unsupported:
        kinds = ", ".join(f"{_shown(suffix)} ({n})" for suffix, n in report.unsupported.most_common())
        count = sum(report.unsupported.values())
        click.echo(f"{count} file{'s' * (count != 1)} of other types not read: {kinds} (choose files with --glob)", err=True)
    ignored = [name for name in training if _given(name)]
    if ignored and not update.retrained and model is None:
        click.echo(f"note: the index kept its encoder, so {', '.join('--' + n.replace('_dim', '').replace('_', '-') for n in ignored)} "
                   "had no effect; add --retrain to train a new one", err=True)
    if as_json:
        click.echo(_json(summary))
        return
    _print_update(summary, index_dir)
    if report.skipped:
        reasons = ", ".join(f"{n} {reason}" for reason, n in report.reasons().most_common())
        click.echo(f"skipped {len(report.skipped)}: {reasons}")


def _given(parameter: str) -> bool:
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(parameter) == ParameterSource.COMMANDLINE


def _print_update(summary: dict, index_dir: str) -> None:
    changes = ", ".join(f"{summary[key]} {key}" for key in ("added", "updated", "removed", "unchanged"))
    if not summary["written"]:
        click.echo(f"no changes ({changes}); {_shown(index_dir)} left as it was")
        return
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in summary["timings"].items() if v >= 0.05)
    click.echo(
        f"{changes} -> {summary['documents']} documents ({summary['passages']} passages) "
        f"in {summary['seconds']:.1f}s -> {_shown(index_dir)} ({summary['version']})  [{timings}]"
    )


@main.command()
@click.argument("ids", nargs=-1, required=True)
@index_option
@wait_option
@click.option("--json", "as_json", is_flag=True, help='Print one JSON object: {"removed", "not_found", ...}.')
def remove(ids, index_dir, wait, as_json):
    """Remove the documents with these IDS from the index (their space is given back).

    IDS are document ids as `vecsearch query` shows them: a file's path within the
    corpus, or a record's id.

    \b
    Examples:
      vecsearch remove notes/old.md
      vecsearch remove rec17 rec18 --index indexes/docs --json
    """
    from .retriever import Retriever

    retriever = Retriever.load(index_dir)
    unknown = [i for i in dict.fromkeys(ids) if len(retriever.store.passage_ids_of(i)) == 0]
    update = retriever.delete(list(ids), wait=wait) if len(unknown) < len(set(ids)) else None
    documents, passages = retriever.store.counts()
    summary = {
        "removed": update.removed if update else 0, "not_found": len(unknown), "not_found_ids": unknown,
        "documents": documents, "passages": passages, "version": retriever.version_dir.name,
    }
    retriever.close()
    if as_json:
        click.echo(_json(summary))
        return
    if unknown:
        shown = ", ".join(map(_shown, unknown[:5])) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        click.echo(f"not in the index: {shown}", err=True)
    removed = summary["removed"]
    click.echo(f"removed {removed} document{'s' * (removed != 1)}; {documents} documents remain"
               + ("; the index was left as it was" if update is None else ""))


@main.command()
@backend_options(required=True)
@index_option
@wait_option
@click.option("--json", "as_json", is_flag=True, help='Print one JSON object: {"backend", "passages", "version", ...}.')
def export(backend, uri, collection, index_dir, wait, as_json):
    """Move an index to another backend without re-embedding anything.

    Writes the next version of the index on the backend given, with the same passages
    and stored vectors, encoder and BM25; queries, updates and deletes then use it.

    \b
    Examples:
      vecsearch export --backend milvus --uri milvus.db --index indexes/docs
      MILVUS_TOKEN=user:password vecsearch export --backend milvus --uri http://milvus:19530 --collection docs
      vecsearch export --backend faiss --index indexes/docs        # back to FAISS files
    """
    from .retriever import Retriever

    retriever = Retriever.load(index_dir)
    started = time.perf_counter()
    # progress on stderr, also with --json (on stdout), as `index` does: a large index takes minutes
    update = retriever.export(backend, uri=uri, collection=collection, wait=wait, show_progress=True)
    details = retriever.info()
    retriever.close()
    summary = {"backend": details["backend"], "written": update.version is not None, "documents": update.documents,
               "passages": update.passages, "version": details["version"],
               "seconds": round(time.perf_counter() - started, 2)}
    if as_json:
        click.echo(_json(summary))
        return
    where = _shown(_describe_backend(details["backend"]))
    if not summary["written"]:
        click.echo(f"{_shown(index_dir)} is on {where} already; nothing written")
        return
    click.echo(f"exported {update.documents} documents ({update.passages} passages) to {where} "
               f"in {summary['seconds']:.1f}s -> {_shown(index_dir)} ({details['version']})")


def _describe_backend(backend: dict) -> str:
    from .storage.backends import describe

    return describe(backend)


def _print_notes(notes: list[str]) -> None:
    """What the build asks to tell the user (e.g. that adapting needs torch), one line each on stderr."""
    for note in notes:
        click.echo(f"note: {_shown(note)}", err=True)


def _print_skipped(report, limit: int = 10) -> None:
    for where, reason in report.skipped[:limit]:
        click.echo(f"skipped {_shown(where)}: {_shown(reason)}", err=True)
    if len(report.skipped) > limit:
        click.echo(f"... and {len(report.skipped) - limit} more skipped", err=True)


def _print_cut(report, limit: int = 10) -> None:
    """A note for each document whose passages hold only a part of its text."""
    from .corpus import MAX_RUN_CHARS

    for doc_id, cut in report.cut[:limit]:
        click.echo(f"note: {_shown(doc_id)}: {cut:,} characters left out (of a run without spaces only the first "
                   f"{MAX_RUN_CHARS:,} are indexed)", err=True)
    if len(report.cut) > limit:
        click.echo(f"... and {len(report.cut) - limit} more documents cut short", err=True)


@main.command()
@click.argument("path", type=click.Path())
@click.option("-o", "--output", type=click.Path(file_okay=False), required=True, help="Folder to write the model to.")
@click.option("--text-field", default="text", show_default=True, help="Field holding the text in JSON/CSV/Parquet records.")
@training_options
@click.option("--json", "as_json", is_flag=True, help='Print one JSON object: {"steps", "seconds", "passages", "output", ...}.')
def train(path, output, text_field, as_json, **training):
    """Train an encoder on PATH without indexing; reuse it with `index --model` (or `--base`).

    By default the base encoder is distilled from all-MiniLM-L6-v2 on PATH (keeping its
    tokenizer; --teacher none: trained further self-supervised); with --base none a new
    encoder and tokenizer are trained from scratch.

    \b
    Example:
      vecsearch train docs/ -o models/docs && vecsearch index more-docs/ --model models/docs
    """
    from .model.runtime import require_torch

    require_torch("vecsearch train")
    from .corpus import CorpusReport, read_corpus
    from .model.bases import resolve
    from .model.encoder import RNNEncoder
    from .storage.indexdir import apply_umask
    from .training.self_supervised import fit
    from .training.teacher import teacher_for

    build = _training(**training)
    report = CorpusReport()
    _, passages = read_corpus(path, text_field, report=report)
    _print_skipped(report)
    _print_cut(report)
    texts, doc_ids = [p.text for p in passages], [p.doc_id for p in passages]
    base_dir = resolve(build["base"])
    base = RNNEncoder.load(base_dir) if base_dir is not None else None
    teacher = teacher_for(build["teacher"], from_base=base is not None)
    encoder, result = fit(texts, doc_ids, build["encoder_config"], build["train_config"], teacher=teacher, base=base)
    encoder.save(output)
    for name in ("encoder.safetensors", "tokenizer.json"):  # safetensors writes its file 0600
        apply_umask(Path(output) / name)
    if as_json:
        click.echo(_json({"steps": result.steps, "seconds": round(result.seconds, 2), "passages": len(passages),
                               "final_loss": round(sum(result.losses[-20:]) / len(result.losses[-20:]), 4) if result.losses else None,
                               "base": build["base"], "teacher": teacher, "output": str(output)}))
        return
    how = f"distilled from {teacher}" if teacher else "self-supervised"
    click.echo(f"trained {result.steps} steps ({how}) in {result.seconds:.1f}s "
               f"on {len(passages)} passages -> {_shown(output)}")


@main.command()
@click.argument("text")
@click.option("-k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Number of documents to return.")
@click.option("-m", "--mode", type=click.Choice(["dense", "lexical", "hybrid"]), default=None,
              help="dense (RNN vectors), lexical (BM25) or hybrid (fused); default: the index's choice.")
@click.option("-w", "--where", "where", multiple=True, metavar="FIELD=VALUE",
              help="Only documents whose metadata matches: field=value, field=a,b (any of), field>=v, "
                   "field<=v; repeat to combine (all must hold).")
@index_option
@click.option("--json", "as_json", is_flag=True, help="Print hits as a JSON list.")
@click.option("--explain", is_flag=True,
              help="Dense and hybrid: say which words of each passage carried its cosine with the query, "
                   "and place the snippet where they are (underlined; the query's words stay bold).")
def query(text, k, mode, where, index_dir, as_json, explain):
    """Search the index for TEXT; prints the best documents, one hit each, with its score:
    cosine (dense), bm25 (lexical) or rrf (hybrid: reciprocal-rank fusion of the two).

    \b
    Example:
      vecsearch query "how do RNNs keep context?" -k 5
      vecsearch query "boundary layer" --json | jq '.[0].id'
      vecsearch query "wing flutter" --where year>=1960 --where lang=en
      vecsearch query "read a file line by line" --mode dense --explain
    """
    from .retriever import MAX_QUERY_CHARS, MAX_QUERY_WORDS, Retriever, truncate_query
    from .search.snippets import render
    from .storage.filters import parse_cli

    text, truncated = truncate_query(text)
    if truncated:
        click.echo(f"note: the query was too long and was cut to {len(text.split())} words, {len(text)} characters "
                   f"(at most {MAX_QUERY_WORDS} words and {MAX_QUERY_CHARS} characters are used)", err=True)
    retriever = Retriever.load(index_dir)
    mode = mode or retriever.default_mode
    hits = retriever.search(text, k=k, mode=mode, where=parse_cli(where), explain=explain)
    if explain and mode == "lexical":
        click.echo("note: --explain explains dense scores; lexical hits mark the query's words as always", err=True)
    if mode != "dense" and not retriever.lexical.terms(text):
        fallback = "; the dense side answered alone" if mode == "hybrid" else "; try --mode dense"
        click.echo(f"note: every word of the query is a stopword to BM25 ({retriever.lexical.stopwords} list){fallback}",
                   err=True)
    if as_json:
        click.echo(_json([hit.to_dict() for hit in hits]))
        return
    if not hits:
        click.echo("no results" + (" (none of the documents matches --where)" if where else ""))
    terminal = sys.stdout.isatty()
    bold = (lambda word: click.style(word, bold=True)) if terminal else (lambda word: word)
    underline = (lambda word: click.style(word, underline=True)) if terminal else (lambda word: word)
    for hit in hits:
        click.echo(f"{hit.rank:>3}  {hit.score_kind:>6} {hit.score:.4f}  {_shown(hit.id)}"
                   + (f"  ({_shown(hit.source)})" if hit.source != hit.id else ""))
        if hit.metadata:
            fields = ", ".join(_shown(f"{name}={json.dumps(value, ensure_ascii=False)}") for name, value in hit.metadata.items())
            click.echo("     " + textwrap.shorten(fields, width=200, placeholder=" ..."))
        click.echo("     " + render(*_escaped_snippet(hit.text, hit.snippet), bold, underline))
        if hit.explanation is not None:
            click.echo("     " + _carrying_words(hit.text, hit.explanation))


def _carrying_words(text: str, explanation, shown: int = 6) -> str:
    """One line: the words carrying most of the cosine (a word's shares summed over its
    occurrences), what all words carry, and the rest (the projection's bias)."""
    by_word: dict[str, list] = {}
    for start, end, share in explanation.words:
        word = text[start:end].lower()
        if any(char.isalnum() for char in word):
            entry = by_word.setdefault(word, [0.0, 0])
            entry[0] += share
            entry[1] += 1
    top = sorted(by_word.items(), key=lambda item: -item[1][0])[:shown]
    listed = ", ".join(f"{_shown(word)} {share:+.3f}" + (f" ({count}x)" if count > 1 else "")
                       for word, (share, count) in top if share > 0)
    return (f"why: {listed or 'no word adds to it'}; words {explanation.score - explanation.rest:+.3f} "
            f"+ bias {explanation.rest:+.3f} = cosine {explanation.score:.3f}")


def _escaped_snippet(text: str, snippet):
    """(text, snippet) with the text's control characters escaped and the snippet's offsets moved
    with them; whitespace is left for `render`, which makes one space of any run of it."""
    if not _CONTROL.search(text):
        return text, snippet
    from .search.snippets import Snippet

    pieces, starts, length = [], [], 0
    for char in text:
        starts.append(length)
        pieces.append(_escape(char) if _CONTROL.match(char) and not char.isspace() else char)
        length += len(pieces[-1])
    starts.append(length)
    moved = Snippet(starts[snippet.start], starts[snippet.end], [(starts[a], starts[b]) for a, b in snippet.marks],
                    [(starts[a], starts[b]) for a, b in snippet.semantic])
    return "".join(pieces), moved


@main.command()
@index_option
@click.option("--verify", "check", is_flag=True, help="First check every file against its checksum, as `vecsearch verify`.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def info(index_dir, check, as_json):
    """Describe an index: documents, passages, encoder, index type, size.

    \b
    Examples:
      vecsearch info --index indexes/docs
      vecsearch info --verify --json
    """
    from .retriever import Retriever

    verification = _verify(index_dir, quiet=as_json) if check else None
    details = Retriever.load(index_dir).info()
    if as_json:
        if verification is not None:
            details["verified"] = {"files": verification.files, "checksums_recorded": verification.recorded}
        click.echo(_json(details))
        return
    encoder = details["encoder"]
    rows = {
        "index": f"{details['index']} ({details['version']})",
        "documents": details["documents"],
        "passages": details["passages"],
        "dimension": details["dimension"],
        "encoder": f"{'bi' if encoder['bidirectional'] else ''}{encoder['cell']} "
                   f"{encoder['hidden_dim']} units, {encoder['pooling']} pooling, vocab {encoder['vocab_size']}",
        "base": _describe_base(details.get("base")),
        "index type": details["index_type"],
        "backend": _describe_backend(details["backend"]),
        "default mode": details["default_mode"],
        "hybrid": _describe_fusion(details["fusion"]),
        "size on disk": f"{details['size_bytes'] / 1e6:.1f} MB",
        "created": details["created"],
    }
    if verification is not None:
        rows["verified"] = _describe_verification(verification)
    for name, value in rows.items():
        click.echo(f"{name:>13}  {_shown(value)}")


@main.command()
@index_option
def verify(index_dir):
    """Check every file of the index against the size and checksum recorded when it was written.

    Reads the whole index (opening it checks only sizes and the small files). Prints one
    line per damaged file and exits with 1 if any differs. The vectors and passages of a
    Milvus index are in Milvus, outside these checks.

    \b
    Example:
      vecsearch verify --index indexes/docs
    """
    click.echo(_describe_verification(_verify(index_dir)))


def _verify(index_dir: str, quiet: bool = False):
    """The verification of the index; on damage, each problem on stderr and exit 1."""
    from .storage.indexdir import verify as verify_files

    verification = verify_files(index_dir)
    for problem in verification.problems:
        click.echo(f"error: {_shown(problem)}", err=True)
    if verification.problems:
        click.get_current_context().exit(1)
    return verification


def _describe_verification(verification) -> str:
    name = verification.version_dir.name
    if not verification.recorded:
        return f"{name}: no checksums recorded (written by a vecsearch from before them; the next write records them)"
    return f"ok: {name}: {verification.files} files match their checksums"


def _describe_base(base: dict | None) -> str:
    if not base:
        return "none (trained from scratch on the corpus)"
    if base.get("deferred"):  # adapting was due, but needs torch
        return (f"{base['name']} ({base['sha256']}), as it is: not adapted, {base['deferred']} "
                "(pip install 'vecsearch[train]', then index again)")
    if not base.get("adapted"):
        return f"{base['name']} ({base['sha256']}), as it is"
    return f"{base['name']} ({base['sha256']}), adapted to the corpus ({base['adapted_by']})"


def _describe_fusion(fusion: dict) -> str:
    if not fusion:
        return "reciprocal-rank fusion, equal weights"
    text = f"reciprocal-rank fusion, dense weight {fusion['dense_weight']}"
    if fusion.get("feedback_passages"):
        text += f", query vector moved toward BM25's top {fusion['feedback_passages']} passages"
    return text


def _require(modules: list[str], extra: str, purpose: str) -> None:
    """Stop with one line naming the extra to install if one of `modules` is missing."""
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise VecsearchError(f"{purpose} needs {', '.join(missing)}: pip install 'vecsearch[{extra}]'")


@main.command()
@index_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default answers this machine only (e.g. --host 0.0.0.0 for all).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option("--workers", type=click.IntRange(1, 64), default=min(2, os.cpu_count() or 1), show_default="2, or 1 on one CPU",
              help="Server processes. A query is CPU work that holds Python's GIL much of the time, so "
                   "processes, not threads, use more cores.")
@click.option("--access-log", is_flag=True, help="Log every request on stderr.")
@click.option("--allow-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this Host name (repeatable; '*.example.com', '*' for any). "
                   "On loopback only loopback names are answered by default.")
def serve(index_dir, host, port, workers, access_log, allowed_hosts):
    """Serve a search page and a JSON API over an index (needs vecsearch[serve]).

    The page at / has a search box, a mode switch and a map of the passages with the
    query and its hits on it. The API: GET /search?q=...&k=10&mode=hybrid (the hits
    `query --json` prints), /info, /health, /map; its OpenAPI description is at
    /openapi.json. When the index gets a new version (`vecsearch index`,
    `remove`), the server answers from it without a restart.

    \b
    Examples:
      vecsearch serve --index indexes/docs
      vecsearch serve --port 8080 &  curl 'http://127.0.0.1:8080/search?q=drag&k=3'
    """
    _require(["fastapi", "uvicorn"], "serve", "vecsearch serve")
    # Before numpy and FAISS load: parallelism comes from requests (workers, threads); BLAS and
    # OpenMP threads would spin on the same cores (3x the CPU per query, measured). Workers inherit it.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    from .serve.server import serve as run_server

    def ready(url, version):
        click.echo(f"serving {_shown(index_dir)} ({version}) at {url}  (API: {url}openapi.json; Ctrl-C stops)", err=True)

    # None, not (): with no --allow-host, a server off loopback answers any Host, as before
    run_server(index_dir, host, port, workers=workers, access_log=access_log, on_ready=ready,
               allowed_hosts=allowed_hosts or None)


@main.command()
@index_option
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="PNG file to write.")
@click.option("-q", "--query", default=None, help="Also draw this query and its hits.")
@click.option("-k", type=click.IntRange(1, 100), default=10, show_default=True, help="Hits of --query to draw.")
@click.option("--json", "as_json", is_flag=True, help="Print what was drawn as JSON.")
def plot(index_dir, output, query, k, as_json):
    """Draw the map of the passages as a PNG: neighbours kept together (t-SNE; PCA without
    scikit-learn), clusters coloured and labelled with their most distinctive words.

    Needs vecsearch[plot] (matplotlib, scikit-learn). A t-SNE map draws a sample of at most
    2,000 passages, a PCA one of 5,000.

    \b
    Example:
      vecsearch plot --index indexes/docs -o map.png
      vecsearch plot -o map.png --query "boundary layer transition" -k 5
    """
    _require(["matplotlib"], "plot", "vecsearch plot")
    from .retriever import Retriever
    from .serve.plot import plot_map

    retriever = Retriever.load(index_dir)
    try:
        drawn = plot_map(retriever, output, query=query, k=k)
    finally:
        retriever.close()
    if as_json:
        click.echo(_json({**drawn, "output": str(output)}))
        return
    clusters = len(drawn["clusters"])
    click.echo(f"{drawn['points']:,} of {drawn['passages']:,} passages ({drawn['layout']}), "
               f"{clusters} cluster{'s' * (clusters != 1)}" + (f", {len(drawn['hits'])} hits" if query else "")
               + f" -> {_shown(output)}")
    for number, label in enumerate(drawn["clusters"], 1):
        click.echo(f"  {number:>2}. {_shown(label)}")


@main.command(name="eval")
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option("--model", type=click.Path(file_okay=False), default=None, help="Reuse a trained encoder instead of training.")
@backend_options
@training_options
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def evaluate(data_dir, model, backend, uri, collection, as_json, **training):
    """Measure retrieval quality on a BEIR-layout collection.

    DATA_DIR holds corpus.jsonl, queries.jsonl and qrels/test.tsv. Trains on the
    corpus (unless --model), indexes it, runs every query, and reports nDCG@10,
    Recall@100 and MRR@10 for dense, hybrid and lexical (BM25) search.

    \b
    Example:
      vecsearch eval ../shared/data/cranfield --json
    """
    from .evaluation import run_eval

    results = run_eval(data_dir, model=model, backend=backend, uri=uri, collection=collection, **_training(**training))
    if as_json:
        click.echo(_json(results))
        return
    click.echo(f"{_shown(results['collection'])}: {results['queries']} queries")
    click.echo(f"{'system':<10}{'nDCG@10':>10}{'R@100':>10}{'MRR@10':>10}")
    for system, metrics in results["systems"].items():
        marker = "  (default)" if system == results["default_mode"] else ""
        click.echo(f"{system:<10}{metrics['ndcg@10']:>10.4f}{metrics['recall@100']:>10.4f}{metrics['mrr@10']:>10.4f}{marker}")
    click.echo("seconds: " + ", ".join(f"{k} {v}" for k, v in results["seconds"].items()))


if __name__ == "__main__":
    main(prog_name="vecsearch")
