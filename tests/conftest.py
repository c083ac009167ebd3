import json
import random
from contextlib import contextmanager
from pathlib import Path

import pytest

# 400 documents and 40 queries made from WordNet's glosses (see data/SOURCE.md), in the repository:
# the suite needs no data from outside it
COLLECTION = Path(__file__).resolve().parent / "data" / "wordnet"

# Small and quick: enough training for copied phrases to find their document.
TINY_ENCODER = {"hidden_dim": 48, "embed_dim": 48}
TINY_STEPS = 60

# A few short texts and a tokenizer learnt on them: enough for the encoder's own tests.
SHORT_TEXTS = [
    "the boundary layer separates at high angles of attack",
    "heat transfer in laminar flow over a flat plate",
    "Shock waves in supersonic flow",
    "a",
    "buckling of thin cylindrical shells under axial compression and pressure",
] * 4


@pytest.fixture(scope="session")
def tokenizer():
    from vecsearch.model.tokenizer import train_tokenizer

    return train_tokenizer(SHORT_TEXTS, vocab_size=300)


def collection_documents() -> list[dict]:
    """The test collection's 400 documents: {"_id", "title", "text"}, in its order."""
    with open(COLLECTION / "corpus.jsonl") as lines:
        return [json.loads(line) for line in lines]


def collection_queries() -> list[str]:
    """The texts of the test collection's 40 queries."""
    with open(COLLECTION / "queries.jsonl") as lines:
        return [json.loads(line)["text"] for line in lines]


def write_corpus(folder: Path, documents: list[dict], text_files: int) -> Path:
    """`text_files` documents as .txt files, the rest as one .jsonl file."""
    folder.mkdir(parents=True, exist_ok=True)
    for document in documents[:text_files]:
        (folder / f"doc{document['_id']}.txt").write_text(document["text"])
    with open(folder / "records.jsonl", "w") as records:
        for document in documents[text_files:]:
            records.write(json.dumps({"id": f"rec{document['_id']}", "title": document["title"], "text": document["text"]}) + "\n")
    return folder


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory) -> Path:
    """80 documents of the test collection: 60 .txt files and a 20-record .jsonl file."""
    documents = collection_documents()
    random.Random(1).shuffle(documents)
    return write_corpus(tmp_path_factory.mktemp("corpus"), documents[:80], text_files=60)


@pytest.fixture(scope="session")
def small_index(small_corpus, tmp_path_factory):
    from vecsearch import Retriever
    from vecsearch.training.config import TrainConfig

    index_dir = tmp_path_factory.mktemp("index") / "idx"
    Retriever.build(  # trained from scratch (no base encoder), so that a tiny shape is quick to train
        small_corpus, index_dir, base="none", encoder_config=TINY_ENCODER,
        train_config=TrainConfig(steps=TINY_STEPS, batch_size=32), show_progress=False,
    )
    return index_dir


KINDS = ("plant", "animal", "tool")


def with_metadata(documents: list[dict]) -> list[dict]:
    """The test collection's documents, each with a year, a kind and a page count."""
    return [{"id": d["_id"], "text": d["text"], "year": 1990 + i % 30, "kind": KINDS[i % 3], "pages": i}
            for i, d in enumerate(documents)]


@pytest.fixture(scope="session")
def tagged(tmp_path_factory):
    """An index of 200 documents with metadata, built from dicts with the shipped base as it is."""
    from vecsearch import Retriever

    documents = with_metadata(collection_documents()[:200])
    index_dir = tmp_path_factory.mktemp("tagged") / "idx"
    Retriever.build(documents, index_dir, show_progress=False).close()
    return index_dir, {d["id"]: {k: v for k, v in d.items() if k not in ("id", "text")} for d in documents}


def phrase_from(text: str, words: int, rng: random.Random) -> str:
    tokens = text.split()
    start = rng.randrange(0, max(1, len(tokens) - words))
    return " ".join(tokens[start : start + words])


@contextmanager
def server_in_thread(config, start_seconds: float = 60):
    """A uvicorn server for `config` (its app and settings) on a free loopback port, in a
    thread: yields the port, and stops it afterwards."""
    import socket
    import threading
    import time

    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


@pytest.fixture(scope="session")
def live_server(small_index):
    """`vecsearch serve` on small_index, on a free loopback port, in a thread: yields its base URL."""
    pytest.importorskip("fastapi", reason="needs vecsearch[serve]")
    import uvicorn

    from vecsearch.serve.server import create_app

    with server_in_thread(uvicorn.Config(create_app(str(small_index)), log_level="warning"), start_seconds=30) as port:
        yield f"http://127.0.0.1:{port}"
