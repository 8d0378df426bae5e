"""Text for token models, on KerasHub: a WordPiece tokenizer learned from the
training split (`keras_hub.tokenizers.compute_word_piece_vocabulary`) or read
from a vocabulary file (one token per line, as BERT's vocab.txt), saved beside
the model as tokenizer.json; texts packed into a BERT-style model's named inputs
(token ids, segment ids, padding mask) by KerasHub's MultiSegmentPacker.
TensorFlow-side (KerasHub's tokenizers run on tf.text), like the rest of data."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..errors import DataError, DependencyError, FlagError
from ..files import read_bounded

PAD, UNK, CLS, SEP, MASK, EOS = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[EOS]"
RESERVED = (PAD, UNK, CLS, SEP, MASK, EOS)  # the first ids of a learned vocabulary, in this order
TOKEN_INPUT, SEGMENT_INPUT, MASK_INPUT = "token_ids", "segment_ids", "padding_mask"
MAX_VOCABULARY_FILE = 64 * 1024**2


def keras_hub():
    try:
        import keras_hub as hub
    except ImportError as err:
        raise DependencyError(
            f'text tasks tokenize with KerasHub: pip install "keras-spec-builder[hub]" ({err})'
        ) from None
    return hub


@dataclasses.dataclass
class Tokenizer:
    """A WordPiece vocabulary (lower-cased), as tokenizer.json holds it."""

    vocabulary: list

    @classmethod
    def learn(cls, texts, size: int) -> Tokenizer:
        """At most `size` word pieces learned from `texts` (the training split), the reserved tokens first."""
        from ..backend import tensorflow

        tf = tensorflow()
        pieces = keras_hub().tokenizers.compute_word_piece_vocabulary(
            tf.data.Dataset.from_tensor_slices(list(texts)),
            vocabulary_size=size,
            lowercase=True,
            reserved_tokens=list(RESERVED),
        )
        return cls(list(pieces))

    @classmethod
    def read(cls, path) -> Tokenizer:
        """A vocabulary file: one token per line, [PAD] and [UNK] among them."""
        try:
            raw = read_bounded(path, MAX_VOCABULARY_FILE)
        except FileNotFoundError:
            raise FlagError(f"--vocabulary {path!r}: no such file") from None
        except (OSError, ValueError) as err:
            raise DataError(path, str(err)) from None
        try:
            lines = raw.decode("utf-8-sig").splitlines()
        except UnicodeDecodeError as err:
            raise DataError(
                path, f"not UTF-8 text (byte 0x{raw[err.start]:02x})", raw.count(b"\n", 0, err.start) + 1
            ) from None
        numbered = [(number, line.strip()) for number, line in enumerate(lines, 1) if line.strip()]
        seen: dict = {}
        for number, token in numbered:
            if token in seen:
                raise DataError(path, f"the token {token!r} is listed twice (first on line {seen[token]})", number)
            seen[token] = number
        return cls.checked([token for _, token in numbered], path)

    @classmethod
    def checked(cls, tokens, where) -> Tokenizer:
        """A tokenizer of `tokens` (read from `where`), [PAD] first (id 0 pads) and [UNK] among them."""
        if not tokens or tokens[0] != PAD:
            raise DataError(where, f"a vocabulary's first token is {PAD} (id 0 pads), then one token per line")
        if UNK not in tokens:
            raise DataError(where, f"a vocabulary needs the token {UNK} (for words outside it)")
        return cls(list(tokens))

    @functools.cached_property
    def layer(self):
        """KerasHub's WordPieceTokenizer of this vocabulary (made once)."""
        return keras_hub().tokenizers.WordPieceTokenizer(
            vocabulary=self.vocabulary,
            lowercase=True,
            oov_token=UNK,
            special_tokens=[t for t in RESERVED if t in self.vocabulary],
        )

    def id(self, token: str) -> int | None:
        return self.vocabulary.index(token) if token in self.vocabulary else None

    def ids(self, texts) -> list[np.ndarray]:
        """Each text's token ids."""
        if not len(texts):
            return []
        tokenized = self.layer(list(texts))
        rows = tokenized.to_list() if hasattr(tokenized, "to_list") else tokenized  # ragged, or lists already
        return [np.asarray(row, dtype="int32") for row in rows]

    def text(self, ids) -> str:
        """Token ids back to text (word pieces joined; padding and reserved tokens left out)."""
        reserved = {self.id(token) for token in RESERVED}
        kept = [int(i) for i in ids if int(i) not in reserved]
        if not kept:
            return ""
        out = np.asarray(self.layer.detokenize([kept])).reshape(-1)[0]
        return out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out)

    def check_fits(self, size: int | None, where: str):
        if size is not None and len(self.vocabulary) > size:
            raise DataError(
                where, f"the vocabulary has {len(self.vocabulary)} tokens, but the token embedding takes {size}"
            )

    def to_json(self) -> dict:
        return {"kind": "word_piece", "lowercase": True, "vocabulary": self.vocabulary}

    @classmethod
    def from_json(cls, value, where) -> Tokenizer:
        """tokenizer.json's content (read from `where`), checked."""
        tokens = value.get("vocabulary") if isinstance(value, dict) else None
        kind = value.get("kind") if isinstance(value, dict) else None
        if kind != "word_piece" or not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise DataError(
                where, 'expected {"kind": "word_piece", "vocabulary": [tokens]}, as a training run writes it'
            )
        if len(set(tokens)) != len(tokens):
            raise DataError(where, "a token is listed twice in the vocabulary")
        return cls.checked(tokens, where)


def run_tokenizer(settings, folder, texts, expanded) -> Tokenizer:
    """A run's tokenizer: a resumed run's own (tokenizer.json in its folder),
    the `--vocabulary` file, or one learned from `texts` (the training split);
    at most as many tokens as the token embedding takes."""
    from .folder import MODEL, TOKENIZER

    size = embedding_size(expanded)
    resumed = read_tokenizer_beside(folder.file(MODEL), TOKENIZER) if settings.resume else None
    if resumed is not None:
        return resumed
    if settings.vocabulary is not None:
        tokenizer = Tokenizer.read(settings.vocabulary)
        tokenizer.check_fits(size, settings.vocabulary)
        return tokenizer
    learned = Tokenizer.learn(texts, size or 30_000)
    learned.check_fits(size, "the learned vocabulary")
    return learned


def embedding_size(expanded) -> int | None:
    """The token embedding's vocabulary size (input_dim) in an expanded spec: the first embedding's."""
    sizes = [
        node.args[node.type.vocabulary]
        for node in expanded.nodes
        if node.type.vocabulary and node.type.vocabulary in node.args
    ]
    return sizes[0] if sizes else None


def positions(expanded) -> int | None:
    """The most positions a model's position embedding holds, or None without one."""
    lengths = [node.args["sequence_length"] for node in expanded.nodes if "sequence_length" in node.args]
    return min(lengths) if lengths else None


def pack(tokenizer: Tokenizer, first, second, length: int, input_names) -> dict:
    """Texts (and their pairs' second texts, or None) as the named inputs a
    BERT-style model takes: [CLS] a [SEP] (b [SEP]) token ids, segment ids,
    and a padding mask, `length` tokens each (longer pairs cut round-robin)."""
    hub = keras_hub()
    cls_id, sep_id = tokenizer.id(CLS), tokenizer.id(SEP)
    if cls_id is None or sep_id is None:
        raise DataError("the vocabulary", f"packing text pairs needs the tokens {CLS} and {SEP}")
    packer = hub.layers.MultiSegmentPacker(sequence_length=length, start_value=cls_id, end_value=sep_id, pad_value=0)
    segments = [tokenizer.layer(list(first))]
    if second is not None:
        segments.append(tokenizer.layer(list(second)))
    token_ids, segment_ids = packer(tuple(segments) if len(segments) > 1 else segments[0])
    token_ids, segment_ids = np.asarray(token_ids, "int32"), np.asarray(segment_ids, "int32")
    values = {TOKEN_INPUT: token_ids, SEGMENT_INPUT: segment_ids, MASK_INPUT: (token_ids != 0).astype("int32")}
    return {name: values[name] for name in input_names}


def packed_length(tokenizer: Tokenizer, first, second, limit: int | None) -> int:
    """The tokens of the longest packed example ([CLS] and [SEP]s included), at most `limit`."""
    longest = max(len(ids) for ids in tokenizer.ids(first))
    if second is not None:
        longest += max(len(ids) for ids in tokenizer.ids(second)) + 1
    longest += 2
    return min(longest, limit) if limit else longest


def is_packed_text_model(model) -> bool:
    """A model whose inputs are a BERT-style token ids, padding mask (and segment ids)."""
    names = [tensor.name.split(":")[0] for tensor in model.inputs]
    return len(names) > 1 and TOKEN_INPUT in names and set(names) <= {TOKEN_INPUT, SEGMENT_INPUT, MASK_INPUT}


def input_names(model) -> list[str]:
    return [tensor.name.split(":")[0] for tensor in model.inputs]


def read_tokenizer_beside(model_path, name: str) -> Tokenizer | None:
    """The tokenizer a run wrote beside `model_path` (checked), or None where there is none."""
    from .data import find_beside, read_beside

    path = find_beside(model_path, name)
    return None if path is None else Tokenizer.from_json(read_beside(model_path, name), path)
