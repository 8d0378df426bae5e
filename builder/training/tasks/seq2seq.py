"""Sequence to sequence: an encoder reads a source text, a decoder writes its
target (translation, summaries) — specs/transformer_seq2seq.yaml. Data: a CSV
with `source` and `target` columns, or JSON lines `{"source": ..., "target":
...}`; pairs split by the seed; one WordPiece tokenizer learned from the
training split's sources and targets (or `--vocabulary`), saved beside the
model. The model takes encoder_token_ids, decoder_token_ids and (optionally)
their padding masks, KerasHub's Seq2SeqLM names. Training is teacher
forcing: the decoder reads [CLS] and the target, and at each position
predicts the next target token, [EOS] last. Sequences are
`training.sequence_length` tokens (longer texts cut), else the longest
training source's and target's. Loss: sparse categorical cross-entropy over
the target's tokens (padding weighs nothing); metrics: perplexity and token
accuracy. `generate` and `predict` decode with KerasHub's samplers."""

from __future__ import annotations

import os

import numpy as np

from ...backend import keras as _keras
from ...errors import DataError, FlagError
from .. import data as data_module
from .. import folder as folder_module
from .. import text
from .base import Predictions, output_rank, task, wrong_model
from .causal_lm import TokenTask, sample

ENCODER, DECODER = "encoder_token_ids", "decoder_token_ids"
MASKS = {"encoder_padding_mask": ENCODER, "decoder_padding_mask": DECODER}
START, END = text.CLS, text.EOS  # the decoder's first token, and the target's last


@task("seq2seq")
class Seq2Seq(TokenTask):
    """A target text written for each source text, token by token."""

    weighted = True  # padding weighs nothing in the loss and the metrics

    def check(self):
        names = text.input_names(self.model)
        if output_rank(self.model) != 3 or ENCODER not in names or DECODER not in names:
            raise wrong_model(
                f"seq2seq needs inputs {ENCODER} and {DECODER} (and their padding masks) and an output for every "
                f"decoder position, (batch, positions, vocabulary), as specs/transformer_seq2seq.yaml; this "
                f"model's inputs are {', '.join(names)}, its output {list(self.model.outputs[0].shape)}"
            )

    def load(self, expanded, settings, folder):
        path = settings.data
        sources, targets, _ = read_pairs(path)
        plan = data_module.SplitPlan.of(self.spec.training)
        order = data_module.split_examples(path, np.arange(len(sources)), np.zeros(len(sources), "int64"), plan)
        train = order.train.x
        tokenizer = text.run_tokenizer(
            settings, folder, [sources[i] for i in train] + [targets[i] for i in train], expanded
        )
        for token in (START, END):
            if tokenizer.id(token) is None:
                raise DataError(path, f"the vocabulary has no {token} token; a seq2seq model needs it")
        tokenizer.check_fits(int(self.model.outputs[0].shape[-1]), path)
        source_ids, target_ids = tokenizer.ids(sources), tokenizer.ids(targets)
        lengths = self.spec.training.sequence_length
        lengths = (
            (lengths, lengths)
            if lengths
            else (
                max(len(source_ids[i]) for i in train) or 1,
                max(len(target_ids[i]) for i in train) + 1,
            )
        )
        splits = {}
        for name in ("train", "validation", "test"):
            part = getattr(order, name)
            if part is not None:
                rows = part.x
                splits[name] = self.encoded(
                    [source_ids[i] for i in rows], [target_ids[i] for i in rows], tokenizer, lengths
                )
                splits[name].index = rows
        data = data_module.Data(path, splits["train"], splits.get("validation"), splits.get("test"))
        data.tokenizer, data.sequence_length = tokenizer, lengths
        return data

    def encoded(self, sources, targets, tokenizer, lengths) -> data_module.Split:
        """Teacher forcing: encoder ids, decoder ids ([CLS] + target) and labels (target + [EOS]), cut and padded."""
        source_length, target_length = lengths
        encoder = _padded([ids[:source_length] for ids in sources], source_length)
        start, end = tokenizer.id(START), tokenizer.id(END)
        decoder = _padded([[start, *ids[: target_length - 1]] for ids in targets], target_length)
        labels = _padded([[*ids[: target_length - 1], end] for ids in targets], target_length)
        return data_module.Split(
            self.inputs(encoder, decoder), labels, np.arange(len(sources)), (labels != 0).astype("float32")
        )

    def inputs(self, encoder, decoder) -> dict:
        values = {ENCODER: encoder, DECODER: decoder}
        values.update({mask: (values[ids] != 0).astype("int32") for mask, ids in MASKS.items()})
        return {name: values[name] for name in text.input_names(self.model)}

    # --- saved models -----------------------------------------------------------------

    def _saved(self, model_path) -> tuple[text.Tokenizer, tuple]:
        found = text.read_tokenizer_beside(model_path, folder_module.TOKENIZER)
        lengths = self.record.get("sequence_length")
        if found is None or not (isinstance(lengths, list) and len(lengths) == 2):
            raise DataError(
                model_path, f"no {folder_module.TOKENIZER} and run.json beside the model (its training run writes them)"
            )
        return found, tuple(lengths)

    def evaluate(self, model_path, data_arg, label=None):
        tokenizer, lengths = self._saved(model_path)
        path = os.fspath(data_arg)
        sources, targets, _ = read_pairs(path)
        plan = data_module.SplitPlan.saved(self.record)
        order = data_module.split_examples(path, np.arange(len(sources)), np.zeros(len(sources), "int64"), plan)
        rows = (order.test or order.train).x
        split = self.encoded(
            tokenizer.ids([sources[i] for i in rows]), tokenizer.ids([targets[i] for i in rows]), tokenizer, lengths
        )
        return self.evaluate_split(split)

    def decode(self, tokenizer, sources, target_length, how) -> list[str]:
        """Each source's target, written token by token (`how`: the sampler's name and seed)."""
        encoder = _padded(tokenizer.ids(sources), None)
        prompt = np.zeros((len(sources), target_length), dtype="int32")
        prompt[:, 0] = tokenizer.id(START)
        ops = _keras().ops
        fixed = {
            name: ops.convert_to_tensor(value)
            for name, value in self.inputs(encoder, prompt).items()
            if name not in (DECODER, "decoder_padding_mask")
        }

        def scores(decoder):
            inputs = {**fixed, DECODER: decoder}
            if "decoder_padding_mask" in text.input_names(self.model):
                inputs["decoder_padding_mask"] = ops.ones_like(decoder)
            return self.model(inputs, training=False)

        rows = sample(self.model, scores, prompt, 1, (*how, tokenizer.id(END)))
        return [tokenizer.text(row[1:]) for row in rows]

    def generate(self, model_path, prompt: str, max_length: int | None, sampler: str = "greedy", seed=None) -> str:
        """The target of the source text `prompt`, at most `max_length` tokens (default: the most it was trained on)."""
        tokenizer, (source_length, target_length) = self._saved(model_path)
        longest = target_length - 1  # its labels end in [EOS]
        max_length = max_length or longest
        if max_length > longest:
            raise FlagError(
                f"--max-length {max_length}: the model was trained on targets of {longest} tokens; "
                f"ask for at most {longest}"
            )
        if len(tokenizer.ids([prompt])[0]) > source_length:
            raise FlagError(f"--prompt: the source is longer than the {source_length} tokens the model was trained on")
        return self.decode(tokenizer, [prompt], max_length + 1, (sampler, seed))[0]

    def predict(self, model_path, data_arg, label=None, top_k=1, threshold=None):
        """Each source's target, written greedily; with the data's own target where it has one."""
        if top_k != 1:
            raise FlagError("--top-k: a seq2seq model writes one target per source")
        tokenizer, (source_length, target_length) = self._saved(model_path)
        path = os.fspath(data_arg)
        sources, targets, lines = read_pairs(path, labelled=None)
        for ids, line in zip(tokenizer.ids(sources), lines):
            if len(ids) > source_length:
                raise DataError(
                    path, f"the source is {len(ids)} tokens; the model was trained on at most {source_length}", line
                )
        written = []
        for start in range(0, len(sources), 64):
            written += self.decode(tokenizer, sources[start : start + 64], target_length, ("greedy", None))
        header = ("line", "source", "predicted", *(("target",) if targets else ()))
        rows = [
            (str(line), source, out, *((targets[i],) if targets else ()))
            for i, (line, source, out) in enumerate(zip(lines, sources, written))
        ]
        return Predictions(header, rows)


def _padded(rows, length) -> np.ndarray:
    length = length or max((len(row) for row in rows), default=1) or 1
    out = np.zeros((len(rows), length), dtype="int32")
    for i, row in enumerate(rows):
        out[i, : len(row)] = np.asarray(row, dtype="int32")[:length]
    return out


def read_pairs(path, labelled=True) -> tuple:
    """(sources, targets or None, line numbers) of a CSV with `source` and
    `target` columns or of JSON lines; `labelled` None: targets where there are."""
    if not isinstance(path, str) or not os.path.isfile(path):
        raise FlagError(f"--data {path!r}: a seq2seq model trains on a CSV (source, target) or JSON lines")
    if path.lower().endswith((".jsonl", ".json")):
        expected = 'each line is a JSON object with "source" and "target" strings'
        records = [
            (value["source"], value.get("target"), number)
            for number, value in data_module.json_lines(path, "source", expected)
        ]
    else:
        header, rows, numbers = data_module._read_csv(path)
        if "source" not in header:
            raise DataError(path, f"no `source` column (columns: {', '.join(header)})", 1)
        records = [
            (row[header.index("source")], row[header.index("target")] if "target" in header else None, number)
            for row, number in zip(rows, numbers)
        ]
    if not records:
        raise DataError(path, "no source/target pairs")
    targets = [target for _, target, _ in records]
    missing = next((number for _, target, number in records if not isinstance(target, str)), None)
    if labelled and missing is not None:
        raise DataError(path, 'a pair needs a target (a `target` column, or a "target" string)', missing)
    empty = next((number for source, _, number in records if not source.strip()), None)
    if empty is not None:
        raise DataError(path, "the source is empty", empty)
    empty = next((number for _, target, number in records if isinstance(target, str) and not target.strip()), None)
    if labelled and empty is not None:
        raise DataError(path, "the target is empty", empty)
    return [s for s, _, _ in records], (None if missing is not None else targets), [n for _, _, n in records]
