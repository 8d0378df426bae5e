"""Segmentation: a class for every pixel. Data: a folder with `images/` and
`masks/` (the same file names; a mask is a one-channel PNG of class ids, a
palette PNG's indices included), optionally `classes.json` (the class names),
or such folders under `train/`, `val/` and `test/`. Images are resized
bilinearly and masks nearest-neighbour to the model's input; where the model's
output is smaller than its input (the valid-padded U-Net), masks are
centre-cropped to it. `training.ignore_index` leaves a mask value out of the
loss and metrics. Metrics: pixel accuracy and mean IoU (keras.metrics.MeanIoU);
`predict` writes one PNG mask of class ids per image."""

from __future__ import annotations

import io
import json
import os

import numpy as np

from ...backend import keras as _keras
from ...errors import DataError, DependencyError, FlagError
from ...spec.training import Preprocessing
from .. import data as data_module
from .base import Predictions, Task, output_rank, probabilities, task, wrong_model

IMAGES, MASKS, CLASSES_FILE = "images", "masks", "classes.json"
MAX_BYTES = 4 * 1024**3  # decoded images and masks held in memory


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise DependencyError("segmentation reads its images and masks with Pillow: pip install pillow") from None
    return Image


@task("segmentation")
class Segmentation(Task):
    """Per-pixel classes: sparse categorical cross-entropy over every pixel, pixel
    accuracy, mean IoU; pixels of `training.ignore_index` weigh nothing in any of them."""

    weighted = True

    @property
    def classes(self) -> int:
        return int(self.model.outputs[0].shape[-1])

    @property
    def input_shape(self) -> tuple:
        return tuple(self.model.inputs[0].shape[1:])

    @property
    def output_size(self) -> tuple:
        return tuple(self.model.outputs[0].shape[1:3])

    def check(self):
        if output_rank(self.model) != 4 or self.classes < 2:
            raise wrong_model(
                "segmentation needs a per-pixel output over 2 or more classes, (batch, height, width, classes); "
                f"this model's output is {list(self.model.outputs[0].shape)}"
            )
        if len(self.model.inputs) != 1:
            raise wrong_model("segmentation needs a model with one image input")
        data_module.check_image_input("the model", self.input_shape, "segmentation needs")

    def load(self, expanded, settings, folder):
        config = self.spec.training
        plan = data_module.SplitPlan.of(config)
        data = self.read(settings.data, plan, ignore=config.ignore_index)
        if expanded.scales_its_input:
            data.rescale = None  # the model scales its raw input itself
        return data

    def read(self, path, plan, ignore=None, whole=False):
        """The folder's images and masks, split by its own train/ val/ test/ folders or by `plan`."""
        if not (isinstance(path, str) and os.path.isdir(path)):
            raise FlagError(
                f"--data {path!r}: segmentation trains on a folder with images/ and masks/ "
                "(or train/, val/ and test/ folders that each hold them)"
            )
        splits = data_module.split_folders(path)
        names = _class_names(path, self.classes)
        if splits is None:
            x, y = self._pairs(path, ignore)
            data = data_module.split_examples(path, x, y, plan, names=names, rescale=1 / 255)
        else:
            others = {split: self._pairs(where, ignore) for split, where in splits.items() if split != "train"}
            data = data_module.presplit(path, self._pairs(splits["train"], ignore), names, 1 / 255, others, plan)
        if whole:
            data = data_module.merged(data)
        data.label_masks = True
        if ignore is not None:
            for split in (data.train, data.validation, data.test):
                if split is not None:
                    split.weights = (split.y != ignore).astype("float32")
                    split.y = np.where(split.y == ignore, 0, split.y).astype(split.y.dtype)
        return data

    def _pairs(self, folder, ignore):
        """(images, masks) of one folder holding images/ and masks/, checked pair by pair."""
        images_dir, masks_dir = os.path.join(folder, IMAGES), os.path.join(folder, MASKS)
        for needed in (images_dir, masks_dir):
            if not os.path.isdir(needed):
                raise DataError(
                    folder, f"expected a folder {os.path.basename(needed)}/ (segmentation: images/ and masks/)"
                )
        images, masks = _files(images_dir), _files(masks_dir)
        if not images:
            raise DataError(images_dir, "no images")
        by_stem = {os.path.splitext(f)[0]: f for f in masks}
        for image in images:
            if os.path.splitext(image)[0] not in by_stem:
                raise DataError(os.path.join(images_dir, image), f"no mask for this image in {masks_dir}")
        stems = {os.path.splitext(f)[0] for f in images}
        for mask in masks:
            if os.path.splitext(mask)[0] not in stems:
                raise DataError(os.path.join(masks_dir, mask), f"no image for this mask in {images_dir}")
        height, width, channels = self.input_shape
        count = len(images)
        if count * height * width * (channels + 2) > MAX_BYTES:
            raise DataError(
                folder, f"{count} images of {height}x{width} do not fit the {MAX_BYTES >> 30} GiB held in memory"
            )
        x = np.zeros((count, height, width, channels), dtype="uint8")
        y = np.zeros((count, height, width), dtype="int32")
        for i, image in enumerate(images):
            image_path = os.path.join(images_dir, image)
            mask_path = os.path.join(masks_dir, by_stem[os.path.splitext(image)[0]])
            picture = read_image(image_path, channels)
            mask = _read_mask(mask_path)
            if mask.shape != picture.size[::-1]:
                raise DataError(
                    mask_path,
                    f"the mask is {mask.shape[1]}x{mask.shape[0]} pixels, "
                    f"its image {picture.size[0]}x{picture.size[1]}",
                )
            beyond = (mask >= self.classes) & (mask != (-1 if ignore is None else ignore))
            if beyond.any():
                raise DataError(
                    mask_path,
                    f"class id {int(mask[beyond].max())} is beyond the output's {self.classes} classes "
                    f"(0 to {self.classes - 1}{'' if ignore is None else f'; {ignore} is ignored'})",
                )
            x[i] = resized_image(picture, (height, width))
            y[i] = np.asarray(
                _pil().fromarray(mask.astype("int32")).resize((width, height), _pil().NEAREST), dtype="int32"
            )
        return x, y

    def prepare(self, data):
        """Masks centre-cropped to an output smaller than the input."""
        for split in (data.train, data.validation, data.test):
            if split is not None:
                split.y = self._cropped(split.y)
                if split.weights is not None:
                    split.weights = self._cropped(split.weights)

    def _cropped(self, masks):
        (height, width), (out_h, out_w) = masks.shape[1:3], self.output_size
        if (out_h, out_w) == (height, width):
            return masks
        if out_h > height or out_w > width:
            raise wrong_model(f"the output ({out_h}x{out_w}) is larger than the input ({height}x{width})")
        top, left = (height - out_h) // 2, (width - out_w) // 2
        return masks[:, top : top + out_h, left : left + out_w]

    def own_loss(self):
        return _keras().losses.SparseCategoricalCrossentropy(from_logits=not probabilities(self.model))

    def own_metrics(self):
        keras = _keras()
        return [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.MeanIoU(num_classes=self.classes, sparse_y_pred=False, name="mean_iou", dtype="float32"),
        ]

    # --- saved models -----------------------------------------------------------------

    def _saved_data(self, data_arg, whole):
        plan = data_module.SplitPlan.saved(self.record, whole)
        data = self.read(os.fspath(data_arg), plan, ignore=self.record.get("ignore_index"), whole=whole)
        self.prepare(data)
        return data

    def evaluate(self, model_path, data_arg, label=None):
        from .. import batching

        data = self._saved_data(data_arg, whole=False)
        self.model.compile(loss=self.loss(), **self.compiled_metrics(self.metrics()))
        split = data.test or data.train
        scaling = Preprocessing(rescale=self.record.get("rescale", 1 / 255))  # as its training images were
        steps = batching.Pipeline(self.input_shape, self.record.get("batch_size", 32), scaling)
        results = self.model.evaluate(batching.dataset(split, data, steps, training=False), return_dict=True, verbose=0)
        return {"examples": int(len(split.y)), **{f"test_{k}": float(v) for k, v in results.items()}}

    def predict(self, model_path, data_arg, label=None, top_k=1, threshold=None):
        """One PNG of class ids per image, named after it: for a folder of images, or a segmentation folder's images."""
        path = os.fspath(data_arg)
        height, width, channels = self.input_shape
        files = _images_to_predict(path)
        scale = self.record.get("rescale", 1 / 255)  # the factor its training images took
        x = np.stack([resized_image(read_image(f, channels), (height, width)) for f in files]).astype("float32") * scale
        classes = np.asarray(self.model.predict(x, batch_size=self.record.get("batch_size", 32), verbose=0)).argmax(-1)
        pictures = {}
        for file, mask in zip(files, classes):
            buffer = io.BytesIO()
            _pil().fromarray(mask.astype("uint8" if self.classes <= 256 else "uint16")).save(buffer, format="PNG")
            pictures[os.path.splitext(os.path.basename(file))[0] + ".png"] = buffer.getvalue()
        if len(pictures) != len(files):
            raise DataError(path, "two images share a name; the masks would overwrite each other")
        return Predictions(files=pictures)


def _images_to_predict(path) -> list[str]:
    """The image files to predict: one image, a folder of images, or every image of a segmentation folder."""
    if os.path.isdir(path) and (os.path.isdir(os.path.join(path, IMAGES)) or data_module.split_folders(path)):
        splits = data_module.split_folders(path)
        folders = [path] if splits is None else list(splits.values())
        files = [os.path.join(folder, IMAGES, f) for folder in folders for f in _files(os.path.join(folder, IMAGES))]
    elif os.path.isdir(path):
        files = [os.path.join(path, f) for f in _files(path)]
    elif path.lower().endswith(data_module.IMAGE_SUFFIXES) and os.path.isfile(path):
        files = [path]
    else:
        raise FlagError(f"--data {path!r}: expected an image, a folder of images, or a folder with images/")
    if not files:
        raise DataError(path, "no images to predict")
    return files


def _files(folder) -> list[str]:
    """The image files of a folder, sorted (hidden files left out)."""
    found = sorted(f for f in os.listdir(folder) if not f.startswith("."))
    for name in found:
        if not name.lower().endswith(data_module.IMAGE_SUFFIXES):
            raise DataError(os.path.join(folder, name), f"not an image ({', '.join(data_module.IMAGE_SUFFIXES)})")
    return found


def read_image(path, channels):
    """An image file as a PIL image of 1 (L) or 3 (RGB) channels; a file that will not decode is one line."""
    Image = _pil()
    data_module.check_regular(path, "an image file")
    try:
        with Image.open(path) as opened:
            return opened.convert("L" if channels == 1 else "RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(path, f"cannot decode the image ({err})") from None


def resized_image(picture, size) -> np.ndarray:
    """(height, width, channels) uint8 pixels, resized bilinearly to `size`."""
    height, width = size
    if picture.size != (width, height):
        picture = picture.resize((width, height), _pil().BILINEAR)
    pixels = np.asarray(picture, dtype="uint8")
    return pixels[..., None] if pixels.ndim == 2 else pixels


def _read_mask(path) -> np.ndarray:
    """A mask's class ids: a one-channel PNG (grey values or a palette's indices)."""
    Image = _pil()
    data_module.check_regular(path, "an image file")
    try:
        with Image.open(path) as opened:
            if opened.mode not in ("L", "P", "I", "I;16", "1"):
                raise DataError(
                    path, f"a mask is one channel of class ids (a grey or palette PNG); this one is {opened.mode}"
                )
            return np.asarray(opened, dtype="int64")
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(path, f"cannot decode the mask ({err})") from None


def _class_names(path, classes) -> list[str] | None:
    """The class names of classes.json in the data folder, if it has one (at most the output's classes)."""
    file = os.path.join(path, CLASSES_FILE)
    if not os.path.exists(file):
        return None
    try:
        with open(file, encoding="utf-8") as handle:
            names = json.load(handle)
    except (OSError, ValueError) as err:
        raise DataError(file, f"not a JSON list of class names ({err})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(file, 'expected a JSON list of class names, e.g. ["background", "square", "disc"]')
    if len(names) > classes:
        raise DataError(file, f"{len(names)} class names, but the output predicts {classes} classes")
    return names
