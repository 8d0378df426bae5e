"""Masked language modelling: BERT's pre-training. Data: a corpus as
causal_lm reads it (a text file, a folder of .txt files, JSON lines), split by
documents; a WordPiece tokenizer learned from the training split (or read from
`--vocabulary`), saved beside the model. Each split's tokens are cut into
sequences of `sequence_length`: [CLS], up to `sequence_length` - 2 tokens,
[SEP], padded. In each, 15% of the tokens are chosen (at most MASK_SHARE of
the sequence, as KerasHub's BertMaskedLMPreprocessor caps 96 of 512), and of
those 80% become [MASK], 10% a random token and 10% stay — KerasHub's
MaskedLMMaskGenerator's rule, drawn here from the run's seed, because that
layer takes none and `evaluate` must mask the test split as the run did.

The model takes token_ids, padding_mask, (segment_ids,) and mask_positions and
predicts the vocabulary at each masked position, (batch, masked, vocabulary),
as keras_hub's BertMaskedLM does (specs/bert_tiny_mlm.yaml). Loss: sparse
categorical cross-entropy at the masked positions (the others weigh 0), as
BertMaskedLM's; metric: the accuracy over masked tokens. `predict` fills each
[MASK] of a text file's lines with the `--top-k` likeliest tokens."""

from __future__ import annotations

import math
import os

import numpy as np

from ...backend import keras as _keras
from ...errors import DataError, FlagError, SpecError
from .. import data as data_module
from .. import folder as folder_module
from .. import text
from .base import Predictions, output_rank, probabilities, task, wrong_model
from .causal_lm import TokenTask, corpus_splits

POSITIONS = "mask_positions"  # the input that says where the masked tokens are
SELECTION_RATE, MASK_TOKEN_RATE, RANDOM_TOKEN_RATE = 0.15, 0.8, 0.1
MASK_SHARE = 96 / 512  # the most tokens of a sequence masked


@task("masked_lm")
class MaskedLM(TokenTask):
    """The tokens at masked positions, predicted from the rest."""

    weighted = True  # padded mask positions weigh nothing in the loss and the accuracy

    @property
    def vocabulary_size(self) -> int:
        return int(self.model.outputs[0].shape[-1])

    def check(self):
        names = text.input_names(self.model)
        if output_rank(self.model) != 3 or text.TOKEN_INPUT not in names or POSITIONS not in names:
            raise wrong_model(
                f"masked_lm needs inputs {text.TOKEN_INPUT} and {POSITIONS} and an output for each masked "
                f"position, (batch, masked, vocabulary), as specs/bert_tiny_mlm.yaml; this model's inputs are "
                f"{', '.join(names)}, its output {list(self.model.outputs[0].shape)}"
            )

    def load(self, expanded, settings, folder):
        config = self.spec.training
        length = config.sequence_length or text.positions(expanded)
        if length is None or length < 3:
            raise self.spec.source.locate(
                SpecError(
                    "a masked language model's sequences need a length of 3 or more: give "
                    "training.sequence_length, or a position embedding",
                    path=("training", "sequence_length"),
                )
            )
        name, parts = corpus_splits(settings.data, data_module.SplitPlan.of(config))
        tokenizer = text.run_tokenizer(settings, folder, [piece for piece, _ in parts["train"]], expanded)
        for token in (text.CLS, text.SEP, text.MASK):
            if tokenizer.id(token) is None:
                raise DataError(name, f"the vocabulary has no {token} token; a masked language model needs it")
        splits = {
            split: self.masked(name, split, pieces, tokenizer, (length, config.seed))
            for split, pieces in parts.items()
            if pieces
        }
        data = data_module.Data(name, splits["train"], splits.get("validation"), splits.get("test"))
        data.tokenizer, data.sequence_length = tokenizer, length
        return data

    def masked(self, name, split, pieces, tokenizer, shape) -> data_module.Split:
        """One split's sequences, masked: x the model's inputs, y the masked
        tokens' ids, weights 1 for each masked token (0 for padding). `shape`:
        (sequence length, seed); each split draws from its own stream of the seed."""
        length, seed = shape
        sequences = self.sequences(name, split, pieces, tokenizer, length)
        stream = ("train", "validation", "test").index(split)
        rng = np.random.default_rng([seed, stream])
        token_ids, positions, ids, weights = mask(rng, sequences, tokenizer)
        return data_module.Split(self.inputs(token_ids, positions), ids, np.arange(len(token_ids)), weights)

    def sequences(self, name, split, pieces, tokenizer, length) -> np.ndarray:
        """[CLS] tokens [SEP] rows of `length`, padded with 0, from the split's texts."""
        stream = [int(i) for ids in tokenizer.ids([piece for piece, _ in pieces]) for i in ids]
        body = length - 2
        if not stream:
            raise DataError(name, f"the {split} split holds no tokens")
        count = math.ceil(len(stream) / body)
        rows = np.zeros((count, length), dtype="int32")
        for row in range(count):
            chunk = stream[row * body : (row + 1) * body]
            rows[row, : len(chunk) + 2] = [tokenizer.id(text.CLS), *chunk, tokenizer.id(text.SEP)]
        return rows

    def inputs(self, token_ids, positions) -> dict:
        """The model's named inputs: the masked token ids, where they are masked, a padding mask, segment 0."""
        values = {
            text.TOKEN_INPUT: token_ids,
            POSITIONS: positions,
            text.MASK_INPUT: (token_ids != 0).astype("int32"),
            text.SEGMENT_INPUT: np.zeros_like(token_ids),
        }
        return {name: values[name] for name in text.input_names(self.model)}

    def own_metrics(self):
        return [_keras().metrics.SparseCategoricalAccuracy(name="accuracy")]  # as BertMaskedLM's

    # --- saved models -----------------------------------------------------------------

    def _saved(self, model_path) -> tuple[text.Tokenizer, int]:
        found = text.read_tokenizer_beside(model_path, folder_module.TOKENIZER)
        length = self.record.get("sequence_length")
        if found is None or not isinstance(length, int):
            raise DataError(
                model_path, f"no {folder_module.TOKENIZER} and run.json beside the model (its training run writes them)"
            )
        found.check_fits(self.vocabulary_size, str(data_module.find_beside(model_path, folder_module.TOKENIZER)))
        return found, length

    def evaluate(self, model_path, data_arg, label=None):
        tokenizer, length = self._saved(model_path)
        name, parts = corpus_splits(os.fspath(data_arg), data_module.SplitPlan.saved(self.record))
        tested = "test" if parts["test"] else "train"
        split = self.masked(name, tested, parts[tested], tokenizer, (length, self.record.get("seed", 0)))
        return self.evaluate_split(split)

    def predict(self, model_path, data_arg, label=None, top_k=1, threshold=None):
        """Each [MASK] of each line of a text file, filled: the `top_k` likeliest tokens and their probabilities."""
        tokenizer, length = self._saved(model_path)
        path = os.fspath(data_arg)
        if not os.path.isfile(path):
            raise FlagError(f"--data {path!r}: a masked language model fills the {text.MASK}s of a text file's lines")
        lines = [(n, line) for n, line in enumerate(data_module._read_text(path).splitlines(), 1) if line.strip()]
        rows_in, places = [], []
        for number, line in lines:
            ids = masked_ids(tokenizer, line)
            if len(ids) > length - 2:
                raise DataError(path, f"the line is {len(ids)} tokens; the model reads at most {length - 2}", number)
            found = [i + 1 for i, token in enumerate(ids) if token == tokenizer.id(text.MASK)]
            if not found:
                raise DataError(path, f"the line holds no {text.MASK} to fill", number)
            rows_in.append([tokenizer.id(text.CLS), *ids, tokenizer.id(text.SEP)])
            places.append((number, found))
        if not rows_in:
            raise DataError(path, f"no lines with a {text.MASK} to fill")
        token_ids = np.zeros((len(rows_in), length), dtype="int32")
        positions = np.zeros((len(rows_in), max(len(f) for _, f in places)), dtype="int32")
        for r, (row, (_, found)) in enumerate(zip(rows_in, places)):
            token_ids[r, : len(row)] = row
            positions[r, : len(found)] = found
        scores = np.asarray(self.model.predict(self.inputs(token_ids, positions), verbose=0))
        if not probabilities(self.model):
            scores = np.asarray(_keras().ops.softmax(scores, axis=-1))
        header = ["line", "mask"] + [c for k in range(1, top_k + 1) for c in _ranked(k)]
        rows = []
        for r, (number, found) in enumerate(places):
            for m in range(len(found)):
                best = np.argsort(-scores[r, m], kind="stable")[:top_k]
                cells = [c for b in best for c in (tokenizer.vocabulary[b], f"{scores[r, m, b]:.6f}")]
                rows.append((str(number), str(m + 1), *cells))
        return Predictions(tuple(header), rows)


def _ranked(k) -> tuple:
    return ("predicted", "probability") if k == 1 else (f"predicted_{k}", f"probability_{k}")


def masked_ids(tokenizer: text.Tokenizer, line: str) -> list:
    """A line's token ids, each [MASK] written in it kept as the mask token."""
    pieces = line.split(text.MASK)
    ids: list = []
    for i, piece in enumerate(pieces):
        if piece.strip():
            ids += tokenizer.ids([piece])[0].tolist()
        if i < len(pieces) - 1:
            ids.append(tokenizer.id(text.MASK))
    return ids


def mask(rng, sequences, tokenizer: text.Tokenizer) -> tuple:
    """(masked token ids, mask positions, the original ids there, their weights)
    of [CLS] ... [SEP] rows: each token but [PAD], [CLS] and [SEP] chosen with
    probability SELECTION_RATE, at most MASK_SHARE of a row (a random subset of
    the chosen); a chosen token becomes [MASK] (MASK_TOKEN_RATE), a random token
    (RANDOM_TOKEN_RATE, one of the vocabulary's), or stays. Rows of positions are padded with 0, weight 0."""
    count, length = sequences.shape
    most = max(1, round(length * MASK_SHARE))
    unselectable = np.isin(sequences, [0, tokenizer.id(text.CLS), tokenizer.id(text.SEP)])
    chosen = (rng.random(sequences.shape) < SELECTION_RATE) & ~unselectable
    token_ids = sequences.copy()
    positions = np.zeros((count, most), dtype="int32")
    ids = np.zeros((count, most), dtype="int32")
    weights = np.zeros((count, most), dtype="float32")
    for row in range(count):
        picked = np.flatnonzero(chosen[row])
        if len(picked) > most:
            picked = np.sort(rng.choice(picked, most, replace=False))
        draw = rng.random(len(picked))
        replaced = np.where(
            draw < MASK_TOKEN_RATE,
            tokenizer.id(text.MASK),
            np.where(
                draw < MASK_TOKEN_RATE + RANDOM_TOKEN_RATE,
                rng.integers(0, len(tokenizer.vocabulary), len(picked)),
                sequences[row, picked],
            ),
        )
        positions[row, : len(picked)] = picked
        ids[row, : len(picked)] = sequences[row, picked]
        weights[row, : len(picked)] = 1.0
        token_ids[row, picked] = replaced
    return token_ids, positions, ids, weights
