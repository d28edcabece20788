"""Image folders: listing, class parsing and the centre crop against a straightforward PIL reimplementation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.data.image_folder import ImageFolderDataset, center_crop_arr, class_indices, list_image_files
from benchmark.errors import InputError


def _reference_crop(image: Image.Image, size: int) -> np.ndarray:
    """Written from the reference's description: halve (BOX) while short side >= 2*size, bicubic, centre crop."""
    w, h = image.size
    while min(w, h) >= 2 * size:
        w, h = w // 2, h // 2
        image = image.resize((w, h), Image.BOX)
    short = min(w, h)
    w, h = round(w * size / short), round(h * size / short)
    image = image.resize((w, h), Image.BICUBIC)
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)))


def _random_image(width: int, height: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8), "RGB").convert(mode)


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "b_dir" / "deeper").mkdir(parents=True)
    _random_image(40, 30, seed=1).save(tmp_path / "dog_001.png")
    _random_image(50, 64, seed=2).save(tmp_path / "cat_17.jpg")
    _random_image(33, 33, "L", seed=3).save(tmp_path / "b_dir" / "ant_x_y.PNG")
    _random_image(20, 90, "P", seed=4).save(tmp_path / "b_dir" / "deeper" / "cat.gif")
    (tmp_path / "readme.txt").write_text("not an image")
    (tmp_path / "noextension").write_bytes(b"")
    return tmp_path


def test_listing_is_recursive_sorted_and_filtered(folder):
    names = [p.relative_to(folder).as_posix() for p in list_image_files(folder)]
    assert names == ["b_dir/ant_x_y.PNG", "b_dir/deeper/cat.gif", "cat_17.jpg", "dog_001.png"]


def test_classes_from_prefix_before_first_underscore(folder):
    classes, labels = class_indices(list_image_files(folder))
    # "cat.gif" has no underscore, so its whole name is its class, as in the reference.
    assert classes == ["ant", "cat", "cat.gif", "dog"]
    assert labels == [0, 2, 1, 3]  # files in listing order: ant_x_y.PNG, cat.gif, cat_17.jpg, dog_001.png


@pytest.mark.parametrize("size", [(40, 30), (100, 37), (37, 100), (64, 64), (300, 130), (33, 200), (17, 17)])
@pytest.mark.parametrize("target", [8, 16])
def test_center_crop_matches_the_reference_recipe(size, target):
    image = _random_image(*size, seed=sum(size))
    out = center_crop_arr(image, target)
    assert out.shape == (target, target, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, _reference_crop(image, target))


def test_dataset_items_labels_and_dataloader_workers(folder):
    data = ImageFolderDataset(folder, resolution=16)
    assert len(data) == 4 and data.num_classes == 4 and data.channels == 3
    paths = list_image_files(folder)
    for i, path in enumerate(paths):
        image, label = data[i]
        with Image.open(path) as im:
            expected = _reference_crop(im.convert("RGB"), 16)
        np.testing.assert_array_equal(image, expected)
        assert label == data.labels[i]
    loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=2, shuffle=False)
    batches = list(loader)
    images = torch.cat([b[0] for b in batches]).numpy()
    np.testing.assert_array_equal(images, data.read(0, 4)[0])
    assert torch.cat([b[1] for b in batches]).tolist() == data.labels


def test_gray_and_unlabelled(folder):
    data = ImageFolderDataset(folder, resolution=8, channels=1, class_cond=False)
    image, label = data[0]
    assert image.shape == (8, 8, 1) and label == -1 and data.num_classes == 0


def test_errors(tmp_path, folder):
    with pytest.raises(InputError, match="not found"):
        ImageFolderDataset(tmp_path / "missing", 16)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no jpg"):
        ImageFolderDataset(tmp_path / "empty", 16)
    (folder / "zzz_broken.png").write_bytes(b"\x89PNG garbage")
    data = ImageFolderDataset(folder, 16)
    with pytest.raises(InputError, match="cannot decode") as info:
        data[len(data) - 1]
    assert "zzz_broken.png" in str(info.value)
