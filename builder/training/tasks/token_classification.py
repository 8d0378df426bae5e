"""Token classification: a tag for every word (named entities, parts of
speech). Data: CoNLL-style text — one `word ... tag` line per word (the word
first, the tag last), a blank line between sentences, `-DOCSTART-` lines
skipped. Sentences are split with the seed; the words' vocabulary is learned
from the training split (at most the embedding's size; [UNK] for others) and
written beside the model (vocabulary.json), the tags in classes.json. A
sentence longer than the input's steps is cut into pieces. The model takes
one integer input of word ids and predicts the tags at every step, (batch,
steps, tags) — specs/bilstm_tagger.yaml. Loss: sparse categorical
cross-entropy over the words (padding weighs nothing); metric: the accuracy
over words. `predict` tags the words of each line (or of a CoNLL file's
sentences), one CSV row per word."""

from __future__ import annotations

import os

import numpy as np

from ...backend import keras as _keras
from ...errors import DataError, FlagError
from .. import data as data_module
from .. import text
from .base import Predictions, Task, output_rank, probabilities, task, wrong_model
from .causal_lm import token_loss
from .classification import saved_classes

DOCSTART = "-DOCSTART-"
PAD, UNKNOWN = "", "[UNK]"  # word ids 0 and 1


@task("token_classification")
class TokenClassification(Task):
    """A tag per word."""

    weighted = True  # padding weighs nothing in the loss and the accuracy

    @property
    def tags(self) -> int:
        return int(self.model.outputs[0].shape[-1])

    def check(self):
        inputs = self.model.inputs
        if (
            len(inputs) != 1
            or "int" not in str(inputs[0].dtype)
            or len(inputs[0].shape) != 2
            or output_rank(self.model) != 3
        ):
            raise wrong_model(
                "token_classification needs one integer input of word ids, (batch, steps), and an output of tags "
                f"at every step, (batch, steps, tags), as specs/bilstm_tagger.yaml; this model takes "
                f"{[list(t.shape) for t in inputs]} and gives {list(self.model.outputs[0].shape)}"
            )

    @property
    def steps(self) -> int | None:
        return self.model.inputs[0].shape[1]

    def load(self, expanded, settings, folder):
        path = settings.data
        sentences = read_conll(path, labelled=True)
        plan = data_module.SplitPlan.of(self.spec.training)
        order = data_module.split_examples(path, np.arange(len(sentences)), np.zeros(len(sentences), "int64"), plan)
        train = [sentences[i] for i in order.train.x]
        counts: dict = {}
        for words, _, _ in train:
            for word in words:
                counts[word] = counts.get(word, 0) + 1
        vocabulary = [PAD, UNKNOWN, *sorted(counts, key=lambda w: (-counts[w], w))]
        vocabulary = vocabulary[: text.embedding_size(expanded) or len(vocabulary)]
        tags = sorted({tag for _, labels, _ in sentences for tag in labels})
        if len(tags) > self.tags:
            raise DataError(
                path,
                f"{len(tags)} tags ({', '.join(tags[:12])}{', ...' if len(tags) > 12 else ''}), but the output has "
                f"{self.tags} units",
            )
        length = self.spec.training.sequence_length or self.steps or max(len(w) for w, _, _ in train)
        splits = {
            name: self.encoded([sentences[i] for i in part.x], vocabulary, tags, length)
            for name, part in (("train", order.train), ("validation", order.validation), ("test", order.test))
            if part is not None
        }
        data = data_module.Data(path, splits["train"], splits.get("validation"), splits.get("test"), tags)
        data.vocabulary, data.sequence_length = vocabulary, length
        return data

    def encoded(self, sentences, vocabulary, tags, length) -> data_module.Split:
        """Sentences as word ids, tag ids and weights, `length` steps each (longer ones cut into pieces)."""
        index = {word: i for i, word in enumerate(vocabulary)}
        rows, labels, weights, starts = [], [], [], []
        for words, sentence_tags, line in sentences:
            for start in range(0, len(words), length):
                piece = words[start : start + length]
                rows.append([index.get(w, 1) for w in piece] + [0] * (length - len(piece)))
                if sentence_tags is not None:
                    labels.append(
                        [tags.index(t) for t in sentence_tags[start : start + length]] + [0] * (length - len(piece))
                    )
                weights.append([1.0] * len(piece) + [0.0] * (length - len(piece)))
                starts.append(line)
        x = np.array(rows, dtype="int32")
        y = np.array(labels, dtype="int32") if labels else None
        return data_module.Split(x, y, np.array(starts), np.array(weights, dtype="float32"))

    def own_loss(self):
        return token_loss(self.model)

    def own_metrics(self):
        return [_keras().metrics.SparseCategoricalAccuracy(name="accuracy")]

    def facts(self, data):
        return {"sequence_length": data.sequence_length}

    # --- saved models -----------------------------------------------------------------

    def _saved(self, model_path):
        vocabulary, tags = data_module.load_vocabulary(model_path), saved_classes(model_path)
        length = self.record.get("sequence_length")
        if vocabulary is None or tags is None or not isinstance(length, int):
            raise DataError(
                model_path, "no vocabulary.json, classes.json and run.json beside the model (its run writes them)"
            )
        return vocabulary, tags, length

    def evaluate(self, model_path, data_arg, label=None):
        vocabulary, tags, length = self._saved(model_path)
        path = os.fspath(data_arg)
        sentences = _known_tags(path, read_conll(path, labelled=True), tags)
        plan = data_module.SplitPlan.saved(self.record)
        order = data_module.split_examples(path, np.arange(len(sentences)), np.zeros(len(sentences), "int64"), plan)
        part = order.test or order.train
        split = self.encoded([sentences[i] for i in part.x], vocabulary, tags, length)
        return self.evaluate_split(split, examples=len(part))

    def predict(self, model_path, data_arg, label=None, top_k=1, threshold=None):
        """One row per word: its sentence's line, its place, the word, the tag and its probability (and the truth)."""
        if top_k != 1:
            raise FlagError("--top-k: a tagger names each word's likeliest tag")
        vocabulary, tags, length = self._saved(model_path)
        path = os.fspath(data_arg)
        sentences = read_conll(path, labelled=None)
        labelled = sentences[0][1] is not None
        if labelled:
            sentences = _known_tags(path, sentences, tags)
        split = self.encoded(sentences, vocabulary, tags, length)
        scores = np.asarray(self.model.predict(split.x, batch_size=self.record.get("batch_size", 32), verbose=0))
        if not probabilities(self.model):
            scores = np.asarray(_keras().ops.softmax(scores, axis=-1))
        flat = [step for row, weights in zip(scores, split.weights) for step, w in zip(row, weights) if w]
        header = ("line", "position", "word", "predicted", "probability", *(("label",) if labelled else ()))
        rows, k = [], 0
        for words, truth, line in sentences:
            for i, word in enumerate(words):
                best = int(np.argmax(flat[k]))
                rows.append(
                    (
                        str(line),
                        str(i + 1),
                        word,
                        tags[best],
                        f"{flat[k][best]:.6f}",
                        *((truth[i],) if labelled else ()),
                    )
                )
                k += 1
        return Predictions(header, rows)


def _known_tags(path, sentences, tags):
    for _, labels, line in sentences:
        unknown = next((t for t in labels if t not in tags), None)
        if unknown is not None:
            raise DataError(path, f"the tag {unknown!r} is not one of the model's ({', '.join(tags)})", line)
    return sentences


def read_conll(path, labelled=True) -> list:
    """[(words, tags or None, the line the sentence starts on)] of a CoNLL-style
    file: one `word ... tag` line per word, a blank line between sentences.
    `labelled` None (new data): a line may hold the word alone; then no line has a tag."""
    if not isinstance(path, str) or not os.path.isfile(path):
        raise FlagError(f"--data {path!r}: token classification reads a CoNLL-style text file (`word tag` lines)")
    sentences: list = []
    words: list = []
    tags: list = []
    start = None
    tagged = untagged = 0  # lines with a tag, lines without (the first of them)
    for number, line in enumerate(data_module._read_text(path).splitlines(), 1):
        columns = line.split()
        if not columns or columns[0] == DOCSTART:
            if words:
                sentences.append((words, tags, start))
            words, tags, start = [], [], None
            continue
        if len(columns) < 2:
            if labelled:
                raise DataError(path, f"a line is a word and its tag (`word tag`), got {line.strip()!r}", number)
            untagged = untagged or number
        else:
            tagged = tagged or number
        if tagged and untagged:
            raise DataError(path, "some words have a tag and others not; give every word one, or none", number)
        start = start or number
        words.append(columns[0])
        tags.append(columns[-1])
    if words:
        sentences.append((words, tags, start))
    if not sentences:
        raise DataError(path, "no sentences (`word tag` lines, a blank line between sentences)")
    return [(w, None if untagged else t, n) for w, t, n in sentences]
