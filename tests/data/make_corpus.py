"""Write the test collection in tests/data/wordnet/ from WordNet 3.0's noun glosses.

Run once, by hand (CI reads the committed files):

    python tests/data/make_corpus.py [/usr/share/wordnet]

Each document is one small subtree of WordNet's noun hierarchy: a synset and its hyponyms,
each written as "lemma, lemma: gloss; "example"." in depth-first order, so a document has
a topic (oaks, fiddles, kinds of tax...) and its neighbours in the tree share words with it.
Subtrees are cut so that documents run 80-260 words; about a fifth are longer than one
192-word passage, as some Cranfield abstracts were. The documents are a seeded sample spread
over the lexicographer files (animal, artifact, food, act...), in shuffled order.

Each query is the lemmas of one synset inside a document, other than the document's first
(which gives its title); the qrels judge that document relevant (score 1). The layout is
BEIR's: corpus.jsonl, queries.jsonl and qrels/test.tsv. See SOURCE.md for the licence.
"""

import json
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

DOCUMENTS = 400
QUERIES = 40
MIN_WORDS, MAX_WORDS = 80, 260
SEED = 19
# subtrees with a gloss that labels a word slang, a slur or vulgar are left out of a test corpus
UNWANTED = re.compile(r"\b(slur|slang|sexual intercourse|offensive (term|name|word)|obscene|vulgar\b|disparaging term|derogatory term)|\(disparaging\)|\b(fuck|cunt|bugger)", re.I)
OUT = Path(__file__).resolve().parent / "wordnet"


def read_nouns(wordnet: Path) -> dict[str, dict]:
    """offset -> {lex, words, parent, children, gloss} for every noun synset of data.noun."""
    synsets = {}
    with open(wordnet / "data.noun", encoding="latin-1") as lines:
        for line in lines:
            if line.startswith("  "):  # the licence header
                continue
            fields, _, gloss = line.partition(" | ")
            parts = fields.split()
            offset, lex, count = parts[0], int(parts[1]), int(parts[3], 16)
            words = [parts[4 + 2 * i].replace("_", " ") for i in range(count)]
            words = [w.split("(")[0] for w in words]  # adjective markers such as "(a)"
            at = 4 + 2 * count
            pointers = int(parts[at])
            hypernyms, hyponyms = [], []
            for i in range(pointers):
                symbol, target = parts[at + 1 + 4 * i], parts[at + 2 + 4 * i]
                if parts[at + 3 + 4 * i] != "n":
                    continue
                if symbol in ("@", "@i"):
                    hypernyms.append(target)
                elif symbol in ("~", "~i"):
                    hyponyms.append(target)
            synsets[offset] = {"lex": lex, "words": words, "hypernyms": hypernyms,
                               "hyponyms": hyponyms, "gloss": gloss.strip()}
    for offset, synset in synsets.items():  # a tree: each synset under its first hypernym only
        synset["children"] = [c for c in synset["hyponyms"] if synsets[c]["hypernyms"][:1] == [offset]]
    return synsets


def sentence(synset: dict) -> str:
    gloss = synset["gloss"].rstrip(" ;")
    return f"{', '.join(dict.fromkeys(synset['words']))}: {gloss}."


def subtree(synsets: dict, root: str) -> list[str]:
    order, stack = [], [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(reversed(synsets[node]["children"]))
    return order


def candidates(synsets: dict) -> list[list[str]]:
    """Disjoint subtrees of MIN_WORDS-MAX_WORDS words: the largest that fit, top down."""
    length = {o: len(sentence(s).split()) for o, s in synsets.items()}
    size = {}

    def total(node):  # iterative post-order: the tree is deep
        stack = [(node, False)]
        while stack:
            current, done = stack.pop()
            if done:
                size[current] = length[current] + sum(size[c] for c in synsets[current]["children"])
            elif current not in size:
                stack.append((current, True))
                stack.extend((c, False) for c in synsets[current]["children"])
        return size[node]

    roots = [o for o, s in synsets.items() if not s["hypernyms"]]
    found, stack = [], list(roots)
    while stack:
        node = stack.pop()
        if total(node) <= MAX_WORDS:
            nodes = subtree(synsets, node)
            if total(node) >= MIN_WORDS and not any(UNWANTED.search(sentence(synsets[n])) for n in nodes):
                found.append(nodes)
        else:
            stack.extend(synsets[node]["children"])
    return found


def main(wordnet: Path) -> None:
    synsets = read_nouns(wordnet)
    by_lex = defaultdict(list)
    for nodes in sorted(candidates(synsets)):
        by_lex[synsets[nodes[0]]["lex"]].append(nodes)
    rng = random.Random(SEED)
    for group in by_lex.values():
        rng.shuffle(group)
    chosen = []  # round-robin over the lexicographer files, so no topic dominates
    while len(chosen) < DOCUMENTS:
        for lex in sorted(by_lex):
            if by_lex[lex] and len(chosen) < DOCUMENTS:
                chosen.append(by_lex[lex].pop())
    rng.shuffle(chosen)

    documents, queries, qrels = [], [], []
    for number, nodes in enumerate(chosen, start=1):
        root = synsets[nodes[0]]
        documents.append({"_id": str(number), "title": ", ".join(dict.fromkeys(root["words"])),
                          "text": " ".join(sentence(synsets[n]) for n in nodes)})
    for number, document in enumerate(rng.sample(range(len(chosen)), QUERIES), start=1):
        inner = [n for n in chosen[document][1:] if len(" ".join(synsets[n]["words"]).split()) >= 2]
        synset = synsets[rng.choice(inner or chosen[document][1:])]
        words = " ".join(synset["words"]).split()
        queries.append({"_id": str(number), "text": " ".join(dict.fromkeys(words))})
        qrels.append(f"{number}\t{document + 1}\t1\n")

    (OUT / "qrels").mkdir(parents=True, exist_ok=True)
    (OUT / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in documents))
    (OUT / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (OUT / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(qrels))
    words = [len(d["text"].split()) for d in documents]
    print(f"{len(documents)} documents ({min(words)}-{max(words)} words, {sum(w > 192 for w in words)} over 192), "
          f"{len(queries)} queries, in {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet"))
