"""Synthetic data for the tasks' tests (and docs/tasks.md's walkthroughs):
shapes with their masks, a patterned English corpus, keyword reviews and
sentence pairs. Deterministic for a seed."""

import csv
import os

import numpy as np

ANIMALS = ["cat", "dog", "bird", "fish", "horse", "sheep"]
PLACES = ["the garden", "the house", "the park", "the river", "the field", "the barn"]
VERBS = ["sat in", "ran to", "slept in", "walked to", "played in", "looked at"]


def shapes(folder, count=40, size=64, seed=0, split=False):
    """`folder`/images/N.png (RGB, one square or disc on a grey ground) and
    `folder`/masks/N.png (class ids: 0 ground, 1 square, 2 disc)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    parts = {"train": count, "val": max(2, count // 5), "test": max(2, count // 5)} if split else {"": count}
    for part, n in parts.items():
        for sub in ("images", "masks"):
            os.makedirs(os.path.join(folder, part, sub), exist_ok=True)
        for i in range(n):
            image = np.full((size, size, 3), 90, "uint8") + rng.integers(0, 30, (size, size, 3), dtype="uint8")
            mask = np.zeros((size, size), "uint8")
            kind = int(rng.integers(1, 3))
            r = int(rng.integers(size // 8, size // 4))
            cy, cx = (int(v) for v in rng.integers(r, size - r, 2))
            yy, xx = np.mgrid[:size, :size]
            inside = (abs(yy - cy) <= r) & (abs(xx - cx) <= r) if kind == 1 else (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            mask[inside] = kind
            image[inside] = (220, 60, 40) if kind == 1 else (40, 80, 220)
            Image.fromarray(image).save(os.path.join(folder, part, "images", f"{i:04d}.png"))
            Image.fromarray(mask).save(os.path.join(folder, part, "masks", f"{i:04d}.png"))
    return folder


def sentence(rng):
    return f"the {ANIMALS[rng.integers(6)]} {VERBS[rng.integers(6)]} {PLACES[rng.integers(6)]} ."


def corpus(path, sentences=2000, seed=0):
    """Patterned English sentences, one per line."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(sentence(rng) for _ in range(sentences)) + "\n")
    return path


POSITIVE = ["wonderful", "great", "loved", "excellent", "delightful"]
NEGATIVE = ["terrible", "awful", "hated", "boring", "dreadful"]


def reviews(path, count=400, seed=0):
    """`text,label` rows: a review holding a positive (1) or negative (0) keyword among neutral words."""
    rng = np.random.default_rng(seed)
    filler = ["the", "film", "was", "long", "and", "the", "actors", "spoke", "about", "a", "story", "in", "a", "city", "at", "night"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _ in range(count):
            label = int(rng.integers(2))
            words = list(rng.choice(filler, 8))
            words.insert(int(rng.integers(len(words))), str(rng.choice(POSITIVE if label else NEGATIVE)))
            writer.writerow([" ".join(words), label])
    return path


def pairs(path, count=400, seed=0):
    """`text_a,text_b,label` rows: label 1 when both sentences name the same animal."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text_a", "text_b", "label"])
        for _ in range(count):
            a = int(rng.integers(6))
            same = bool(rng.integers(2))
            b = a if same else int((a + rng.integers(1, 6)) % 6)
            writer.writerow([
                f"the {ANIMALS[a]} {VERBS[rng.integers(6)]} {PLACES[rng.integers(6)]}",
                f"a {ANIMALS[b]} {VERBS[rng.integers(6)]} {PLACES[rng.integers(6)]}",
                int(same),
            ])
    return path


PEOPLE = ["Anna", "Boris", "Chen", "Dara", "Emil", "Farah"]
TOWNS = [["Paris"], ["Oslo"], ["New", "York"], ["Lima"], ["San", "Diego"], ["Rome"]]
FIRMS = [["Acme"], ["Globex"], ["Initech"], ["Umbrella", "Corp"], ["Hooli"], ["Vandelay", "Industries"]]


def conll(path, sentences=600, seed=0):
    """CoNLL-style `word tag` lines (IOB2 named entities: PER, ORG, LOC), a blank line between sentences."""
    rng = np.random.default_rng(seed)

    def entity(words, kind):
        return [(w, f"{'B' if i == 0 else 'I'}-{kind}") for i, w in enumerate(words)]

    lines = ["-DOCSTART- -X- O O", ""]
    for _ in range(sentences):
        person = entity([PEOPLE[rng.integers(6)]], "PER")
        firm, town = entity(FIRMS[rng.integers(6)], "ORG"), entity(TOWNS[rng.integers(6)], "LOC")
        if rng.integers(2):
            words = person + [("works", "O"), ("for", "O")] + firm + [("in", "O")] + town
        else:
            words = [("in", "O")] + town + [(",", "O")] + person + [("met", "O"), ("the", "O")] + firm
        lines += [f"{w} {t}" for w, t in words + [(".", "O")]] + [""]
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    return path


LEXICON = {"the": "el", "cat": "gato", "dog": "perro", "bird": "pajaro", "fish": "pez", "horse": "caballo",
           "sheep": "oveja", "sat": "sentado", "ran": "corrio", "slept": "durmio", "walked": "camino",
           "played": "jugo", "looked": "miro", "in": "en", "to": "a", "at": "hacia", "garden": "jardin",
           "house": "casa", "park": "parque", "river": "rio", "field": "campo", "barn": "granero"}


def translations(path, count=2000, seed=0):
    """`source,target` rows: a patterned English sentence and its word-for-word 'translation', reversed."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "target"])
        for _ in range(count):
            source = sentence(rng)[:-2]
            writer.writerow([source, " ".join(LEXICON[w] for w in reversed(source.split()))])
    return path
