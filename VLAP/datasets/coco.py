"""MS-COCO: `instances_*.json` -> image paths + object-class label sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from VLAP.datasets._common import (
    CheckImages,
    DataFormatError,
    ImageData,
    OnError,
    PathLike,
    LoadReport,
    check_images_option,
    check_image_row,
    ErrorLog,
    resolve_path,
)
from VLAP.datasets._files import read_text

_DOWNLOAD = "Download the COCO annotations (e.g. annotations_trainval2017.zip) from https://cocodataset.org."


def load_coco(instances_json: PathLike, images_dir: PathLike | None = None, *,
              check_images: CheckImages = True, on_error: OnError = "raise",
              keep_unlabeled: bool = False, encoding: str | None = None) -> ImageData:
    """Load a COCO `instances_*.json` as image paths with their object classes.

    An image's label set is the set of category names of its annotations (crowd
    annotations included), sorted.

    Args:
        instances_json: str or Path. E.g. `annotations/instances_val2017.json`.
        images_dir: str, Path or None. Folder of the images; None infers
            `<json folder>/../<split>` from the file name (`instances_val2017.json`
            -> `val2017/`), the standard COCO layout.
        check_images: bool or str. True (or `"verify"`, the default): each
            image must exist, be non-empty, have a parsable header and its
            end-of-image marker; `"decode"`: a full decode; `"exists"`: the file
            exists; False: no check.
        on_error: str. `"raise"` (default) or `"skip"`, for annotations that
            reference an unknown image or category, images without `file_name`,
            duplicate image ids (the first entry is kept; annotations of that id
            go to it), missing or corrupt image files.
        keep_unlabeled: bool. Images without any annotation are dropped by
            default, and counted in `report.notes`; True keeps them with an empty
            label list.
        encoding: str or None. None: UTF-8, or what a byte-order mark says.
            The JSON may be compressed (detected from its content).

    Every argument after `images_dir` is keyword-only.

    Returns:
        ImageData. `paths`, `labels` (sorted category names), `ids` (COCO image
        ids), `report`: images are the records (`n_read` counts them and
        `unaccounted()` is 0); skipped annotations are in `report.skipped_parts`. Rows in messages are 0-based positions in the JSON
        `images`/`annotations` arrays.
    """
    check_images_option(check_images)
    file = resolve_path(instances_json, None, "COCO instances JSON", _DOWNLOAD)
    text = read_text(file, encoding)
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise DataFormatError(f"{file}: not valid JSON ({err})") from None
    except RecursionError:
        raise DataFormatError(f"{file}: JSON nested too deeply to read") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key) if isinstance(doc, dict) else None, list):
            raise ValueError(f"{file}: expected a list under {key!r} (COCO instances format).")
    if images_dir is None:
        split = file.stem.split("_", 1)[1] if "_" in file.stem else file.stem
        folder = file.parent.parent / split
    else:
        folder = Path(images_dir)
    if check_images and not folder.is_dir():
        raise FileNotFoundError(
            f"COCO images folder not found at {folder}; pass `images_dir` "
            "(or check_images=False to skip image checks)."
        )
    report = LoadReport(source=str(file), n_read=len(doc["images"]))
    errors = ErrorLog(on_error, report)
    # an annotation is part of an image record: skipping one skips no image
    part_errors = ErrorLog(on_error, report, parts=True)
    categories: dict[Any, str] = {}
    for i, cat in enumerate(doc["categories"]):
        if not isinstance(cat, dict) or "id" not in cat or not cat.get("name"):
            raise ValueError(f"{file}, categories[{i}]: needs 'id' and 'name'. Got {cat!r}")
        categories[cat["id"]] = cat["name"]
    images: dict[Any, str] = {}  # image id -> file name
    first: dict[Any, int] = {}  # image id -> position of its entry
    for i, img in enumerate(doc["images"]):
        if not isinstance(img, dict) or "id" not in img or not img.get("file_name"):
            errors(file, f"images[{i}]", f"image entry needs 'id' and 'file_name', got {img!r}")
            continue
        if img["id"] in images:
            errors(file, f"images[{i}]",
                   f"duplicate image id {img['id']!r} ({img['file_name']!r}; first at "
                   f"images[{first[img['id']]}], {images[img['id']]!r}, which is kept)")
            continue
        images[img["id"]] = img["file_name"]
        first[img["id"]] = i
    labels: dict[Any, set[str]] = {image_id: set() for image_id in images}
    for i, ann in enumerate(doc["annotations"]):
        image_id = ann.get("image_id") if isinstance(ann, dict) else None
        cat_id = ann.get("category_id") if isinstance(ann, dict) else None
        if image_id not in labels:
            part_errors(file, f"annotations[{i}]", f"unknown image_id {image_id!r}")
            continue
        if cat_id not in categories:
            part_errors(file, f"annotations[{i}]", f"unknown category_id {cat_id!r}")
            continue
        labels[image_id].add(categories[cat_id])
    paths: list[str] = []
    label_lists: list[list[str]] = []
    ids: list[Any] = []
    n_unlabeled = 0
    for i, (image_id, name) in enumerate(images.items()):
        if not labels[image_id] and not keep_unlabeled:
            n_unlabeled += 1
            continue
        path = folder / name
        if not check_image_row(path, file, f"images[id={image_id}]", errors, check_images):
            continue
        paths.append(str(path))
        label_lists.append(sorted(labels[image_id]))
        ids.append(image_id)
    report.n_kept = len(paths)
    if n_unlabeled:
        report.drop("no annotation (keep_unlabeled=False)", n_unlabeled)
        report.notes.append(
            f"{n_unlabeled} images without annotations dropped (keep_unlabeled=False)"
        )
    return ImageData(paths=paths, labels=label_lists, ids=ids, report=report)
