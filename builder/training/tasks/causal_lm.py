"""Causal language modelling: every position predicts the next token (GPT-2).
Data: a text file, a folder of .txt files (each a document), or JSON lines
(each line an object with a `text`). Documents (or, in one long document,
blocks of lines) are shuffled with the seed and split into train, validation
and test; a WordPiece tokenizer is learned from the training split (or read
from `--vocabulary`) and saved beside the model; each split's tokens, documents
ended by [EOS], are cut into windows of `sequence_length` + 1 tokens: the
first `sequence_length` in, the last `sequence_length` (shifted by one) as
labels. Loss: cross-entropy over every position, as KerasHub's CausalLM;
metrics: perplexity (keras_hub.metrics.Perplexity) and token accuracy.
`generate` continues a prompt with KerasHub's samplers."""

from __future__ import annotations

import os

import numpy as np

from ...backend import keras as _keras
from ...errors import DataError, FlagError, SpecError
from .. import data as data_module
from .. import folder as folder_module
from .. import text
from .base import Task, output_rank, probabilities, task, wrong_model

BLOCKS = 100  # one long document is split by blocks of lines: this many, at most


class TokenTask(Task):
    """What the tasks on token ids share: a tokenizer written beside the model, the
    sequence length in run.json, cross-entropy over tokens, perplexity and token accuracy."""

    def own_loss(self):
        return token_loss(self.model)

    def own_metrics(self):
        return token_metrics(self.model)

    def beside(self, data):
        return {folder_module.TOKENIZER: data.tokenizer.to_json()}

    def facts(self, data):
        return {"sequence_length": data.sequence_length}


@task("causal_lm")
class CausalLM(TokenTask):
    """Next-token prediction at every position."""

    def check(self):
        shape = list(self.model.outputs[0].shape)
        if output_rank(self.model) != 3:
            raise wrong_model(
                "causal_lm needs an output for every position of the sequence, (batch, positions, vocabulary); "
                f"this model's output is {shape}"
            )
        self.token_input()

    def token_input(self) -> str:
        """The model's token-id input: its one integer input not named as a mask."""
        tokens = [
            tensor.name.split(":")[0]
            for tensor in self.model.inputs
            if "int" in str(tensor.dtype) and "mask" not in tensor.name
        ]
        if len(tokens) != 1:
            raise wrong_model(
                f"causal_lm needs one integer input of token ids (others may be masks); the inputs are "
                f"{', '.join(text.input_names(self.model))}"
            )
        return tokens[0]

    def load(self, expanded, settings, folder):
        config = self.spec.training
        length = config.sequence_length or self.fixed_length() or text.positions(expanded)
        if length is None:
            raise self.spec.source.locate(
                SpecError(
                    "a language model's windows need a length: give training.sequence_length, a fixed input "
                    "length or a position embedding",
                    path=("training", "sequence_length"),
                )
            )
        plan = data_module.SplitPlan.of(config)
        name, parts = corpus_splits(settings.data, plan)
        tokenizer = text.run_tokenizer(settings, folder, [piece for piece, _ in parts["train"]], expanded)
        return self.windows(name, parts, tokenizer, length)

    def windows(self, name, parts, tokenizer, length):
        """Data of windows of `length` + 1 tokens, per split."""
        splits = {
            split: self.split_windows(name, split, pieces, tokenizer, length)
            for split, pieces in parts.items()
            if pieces
        }
        data = data_module.Data(name, splits["train"], splits.get("validation"), splits.get("test"))
        data.tokenizer, data.sequence_length = tokenizer, length
        return data

    def split_windows(self, name, split, pieces, tokenizer, length) -> data_module.Split:
        """One split's windows: its pieces' tokens, each document ended by [EOS], cut every `length` tokens."""
        eos = tokenizer.id(text.EOS)
        stream = []
        for ids, (_, ends) in zip(tokenizer.ids([piece for piece, _ in pieces]), pieces):
            stream.extend(ids.tolist())
            if ends and eos is not None:
                stream.append(eos)
        count = (len(stream) - 1) // length
        if count < 1:
            raise DataError(
                name,
                f"the {split} split holds {len(stream)} tokens, fewer than one window of {length} + 1; give more "
                f"text, a shorter training.sequence_length{'' if split == 'train' else f', or {split}_split: 0'}",
            )
        ids = np.asarray(stream[: count * length + 1], dtype="int32")
        starts = np.arange(count) * length
        windows = np.stack([ids[s : s + length + 1] for s in starts])
        return data_module.Split(self.inputs(windows[:, :-1]), windows[:, 1:], starts)

    def inputs(self, token_ids) -> dict:
        """The model's named inputs for windows of token ids: masks of ones (windows are never padded)."""
        token = self.token_input()
        return {name: token_ids if name == token else np.ones_like(token_ids) for name in text.input_names(self.model)}

    # --- saved models -----------------------------------------------------------------

    def tokenizer(self, model_path) -> text.Tokenizer:
        """The tokenizer its run wrote beside the model, which must fit the model's output."""
        path = data_module.find_beside(model_path, folder_module.TOKENIZER)
        found = text.read_tokenizer_beside(model_path, folder_module.TOKENIZER)
        if path is None or found is None:
            raise DataError(model_path, f"no {folder_module.TOKENIZER} beside the model (its training run writes one)")
        found.check_fits(self.model.outputs[0].shape[-1], path)
        return found

    def window(self, model_path) -> int:
        """The tokens of the windows the model was trained on (run.json's sequence_length)."""
        length = self.record.get("sequence_length") or self.fixed_length()
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise DataError(model_path, "no run.json with the sequence_length the model was trained on beside it")
        return length

    def fixed_length(self) -> int | None:
        """The token input's length, where the model fixes it."""
        shape = next(t.shape for t in self.model.inputs if t.name.split(":")[0] == self.token_input())
        return shape[1]

    def evaluate(self, model_path, data_arg, label=None):
        record = self.record
        plan = data_module.SplitPlan.saved(record)
        name, parts = corpus_splits(os.fspath(data_arg), plan)
        tested = "test" if parts["test"] else "train"
        split = self.split_windows(name, tested, parts[tested], self.tokenizer(model_path), self.window(model_path))
        self.model.compile(loss=self.loss(), metrics=self.metrics())
        results = self.model.evaluate(
            split.x,
            split.y,
            batch_size=record.get("batch_size", 32),
            verbose=0,
            return_dict=True,
        )
        return {"examples": int(len(split.y)), **{f"test_{k}": float(v) for k, v in results.items()}}

    def predict(self, model_path, data_arg, label=None, top_k=1, threshold=None):
        raise FlagError(
            f"{model_path} is a language model: continue a prompt with `generate {model_path} --prompt TEXT`"
        )

    def generate(
        self, model_path, prompt: str, max_length: int | None, sampler: str = "greedy", seed: int | None = None
    ) -> str:
        """`prompt` continued to `max_length` tokens in all (default 32; fewer where [EOS] comes first), as text."""
        keras = _keras()
        max_length = max_length or 32
        tokenizer = self.tokenizer(model_path)
        window = self.window(model_path)
        if max_length > window:
            raise FlagError(
                f"--max-length {max_length}: the model was trained on windows of {window} tokens; "
                f"ask for at most {window}"
            )
        ids = tokenizer.ids([prompt])[0].tolist() or [tokenizer.id(text.EOS) or 0]
        if len(ids) >= max_length:
            raise FlagError(f"--max-length {max_length}: the prompt is {len(ids)} tokens already")
        prompt_ids = np.zeros((1, max_length), dtype="int32")
        prompt_ids[0, : len(ids)] = ids
        token, names, ops = self.token_input(), text.input_names(self.model), keras.ops

        def scores(prompt):
            inputs = {name: prompt if name == token else ops.ones_like(prompt) for name in names}
            return self.model(inputs, training=False)

        out = sample(self.model, scores, prompt_ids, len(ids), (sampler, seed, tokenizer.id(text.EOS)))[0]
        return tokenizer.text(out)


def token_loss(model):
    """Cross-entropy over token ids, from the output's probabilities or logits (as KerasHub's CausalLM's)."""
    return _keras().losses.SparseCategoricalCrossentropy(from_logits=not probabilities(model))


def token_metrics(model) -> list:
    """A language model's metrics: perplexity (KerasHub's) and token accuracy."""
    perplexity = text.keras_hub().metrics.Perplexity(from_logits=not probabilities(model), name="perplexity")
    return [perplexity, _keras().metrics.SparseCategoricalAccuracy(name="accuracy")]


def sample(model, scores, prompt_ids, index: int, how) -> list:
    """Each row of `prompt_ids` continued from `index` by KerasHub's sampler
    (`how`: its name, a seed, the stop token or None): `scores(prompt)` gives
    the model's output for every position. Rows end before the stop token."""
    keras, hub = _keras(), text.keras_hub()
    ops, (name, seed, eos), softmax = keras.ops, how, probabilities(model)

    def next_token(prompt, cache, at):
        chosen = scores(prompt)[:, at - 1, :]
        return (ops.log(ops.maximum(chosen, 1e-20)) if softmax else chosen), None, cache

    samplers = {
        "greedy": lambda: hub.samplers.GreedySampler(),
        "top_k": lambda: hub.samplers.TopKSampler(k=5, seed=seed),
        "top_p": lambda: hub.samplers.TopPSampler(p=0.9, seed=seed),
        "random": lambda: hub.samplers.RandomSampler(seed=seed),
        "beam": lambda: hub.samplers.BeamSampler(num_beams=5),
    }
    generated = samplers[name]()(
        next_token,
        ops.convert_to_tensor(prompt_ids),
        index=index,
        mask=ops.convert_to_tensor(np.arange(prompt_ids.shape[1])[None, :] < index),
        stop_token_ids=None if eos is None else (eos,),
    )
    rows = []
    for row in np.asarray(ops.convert_to_numpy(generated)).tolist():
        if eos is not None and eos in row[index:]:
            row = row[: index + row[index:].index(eos)]
        rows.append(row)
    return rows


def corpus_splits(data_arg, plan) -> tuple[str, dict]:
    """(the corpus's name, {split: [(text, ends a document)]}) of a text file, a
    folder of .txt files or JSON lines, split by documents (or blocks of lines)."""
    if not isinstance(data_arg, str) or not os.path.exists(data_arg):
        raise FlagError(
            f"--data {data_arg!r}: a language model trains on a text file, a folder of .txt files or a .jsonl file"
        )
    documents = _documents(data_arg)
    if not any(doc.strip() for doc in documents):
        raise DataError(data_arg, "the corpus holds no text")
    if len(documents) >= BLOCKS // 5:
        pieces = [(doc, True) for doc in documents if doc.strip()]
    else:
        pieces = []
        for doc in documents:
            lines = doc.splitlines(keepends=True)
            size = max(1, -(-len(lines) // BLOCKS))
            blocks = ["".join(lines[i : i + size]) for i in range(0, len(lines), size)]
            pieces += [(block, i == len(blocks) - 1) for i, block in enumerate(blocks)]
    data = data_module.split_examples(data_arg, np.arange(len(pieces)), np.zeros(len(pieces), "int64"), plan)
    parts = {}
    for split in ("train", "validation", "test"):
        chosen = getattr(data, split)
        parts[split] = [pieces[i] for i in sorted(chosen.x.tolist())] if chosen is not None else []
    return data_arg, parts


def _documents(path) -> list[str]:
    if os.path.isdir(path):
        files = sorted(
            os.path.join(root, f) for root, _, names in os.walk(path) for f in names if f.lower().endswith(".txt")
        )
        if not files:
            raise DataError(path, "no .txt files in the folder")
        return [data_module._read_text(f) for f in files]
    if not path.lower().endswith((".jsonl", ".json")):
        return [data_module._read_text(path)]
    return [
        value["text"]
        for _, value in data_module.json_lines(path, "text", 'each line is a JSON object with a "text" string')
    ]
