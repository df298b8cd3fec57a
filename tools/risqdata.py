"""Reading a risq dataset folder (datasets/README.md) into memory.

    DIR/dataset.yaml   {name, version, licence, splits: {split: [ {image, mask, sentences[]} ]}}
    DIR/images/*.png   RGB 8-bit          DIR/masks/*.png  8-bit grey, 255 = referred

Everything is loaded once as uint8 numpy arrays; images shared by several
samples are decoded once.
"""

import os

import numpy as np
import yaml
from PIL import Image


class Dataset:
    """images uint8 [Ni][H][W][3]; masks uint8 (0/1) [Ns][H][W];
    sample_image[Ns] (index into images); sentences[Ns] (list of str);
    sample_split[Ns]; image_paths, mask_paths."""


def load(folder, split=None):
    with open(os.path.join(folder, "dataset.yaml"), "r", encoding="utf-8") as f:
        meta = yaml.safe_load(f)
    splits = meta.get("splits") or {}
    if split is not None:
        if split not in splits:
            raise SystemExit("%s: no split %r (has %s)" % (folder, split, list(splits)))
        names = [split]
    else:
        names = list(splits)
    img_index = {}
    images, masks, sample_image, sentences, sample_split = [], [], [], [], []
    image_paths, mask_paths = [], []
    for sp in names:
        for s in splits[sp] or []:
            ip = s["image"]
            if ip not in img_index:
                with Image.open(os.path.join(folder, ip)) as im:
                    images.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
                img_index[ip] = len(images) - 1
                image_paths.append(ip)
            with Image.open(os.path.join(folder, s["mask"])) as im:
                masks.append((np.asarray(im.convert("L"), dtype=np.uint8) > 127).astype(np.uint8))
            mask_paths.append(s["mask"])
            sample_image.append(img_index[ip])
            sentences.append([str(t) for t in s["sentences"]])
            sample_split.append(sp)
    d = Dataset()
    d.meta = meta
    d.folder = folder
    d.images = np.stack(images) if images else np.zeros((0, 1, 1, 3), np.uint8)
    d.masks = np.stack(masks) if masks else np.zeros((0, 1, 1), np.uint8)
    d.sample_image = np.asarray(sample_image, np.int64)
    d.sentences = sentences
    d.sample_split = sample_split
    d.image_paths = image_paths
    d.mask_paths = mask_paths
    return d


def tokenize_all(d, wp, max_len):
    """-> (ids int64 [E][T], mask int64 [E][T], ex_sample [E], ex_sent [E]) for
    every (sample, sentence) pair, in order."""
    ids, msk, es, et = [], [], [], []
    for i, sents in enumerate(d.sentences):
        for j, s in enumerate(sents):
            a, b = wp.encode(s, max_len)
            ids.append(a)
            msk.append(b)
            es.append(i)
            et.append(j)
    return (np.asarray(ids, np.int64).reshape(-1, max_len), np.asarray(msk, np.int64).reshape(-1, max_len),
            np.asarray(es, np.int64), np.asarray(et, np.int64))
