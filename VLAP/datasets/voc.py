"""Pascal VOC: `Annotations/*.xml` -> image paths + object-class label sets."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from VLAP.datasets._common import (
    CheckImages,
    ImageData,
    OnError,
    PathLike,
    LoadReport,
    check_images_option,
    check_image_row,
    ErrorLog,
    resolve_path,
)
from VLAP.datasets._files import open_binary, reading

_DOWNLOAD = (
    "Download Pascal VOC (e.g. VOCtrainval_11-May-2012.tar) from "
    "http://host.robots.ox.ac.uk/pascal/VOC/ and pass the VOC2012 folder."
)


def load_voc(root_or_annotations_dir: PathLike, *, image_set: str | None = None,
             check_images: CheckImages = True, on_error: OnError = "raise",
             include_difficult: bool = True) -> ImageData:
    """Load Pascal VOC annotations as image paths with their object classes.

    Args:
        root_or_annotations_dir: str or Path. The `VOC20xx` folder (holding
            `Annotations/` and `JPEGImages/`) or the `Annotations/` folder itself.
        image_set: str or None. Read only the ids of
            `ImageSets/Main/<image_set>.txt` (e.g. `"train"`, `"val"`,
            `"trainval"`); None reads every XML file (sorted by name).
        check_images: bool or str. True (or `"verify"`, the default): each
            `JPEGImages/<filename>` must exist, be non-empty, have a parsable
            header and its end-of-image marker; `"decode"`: a full decode;
            `"exists"`: the file exists; False: no check.
        on_error: str. `"raise"` (default) or `"skip"` for malformed XML, files
            without objects, missing or corrupt images.
        include_difficult: bool. Count objects marked `<difficult>1</difficult>`.

    Every argument after `root_or_annotations_dir` is keyword-only.

    Returns:
        ImageData. `paths`, `labels` (sorted class names), `ids` (file stems),
        `report`. Rows in messages are annotation file names.
    """
    check_images_option(check_images)
    given = resolve_path(root_or_annotations_dir, None, "Pascal VOC folder", _DOWNLOAD)
    if (given / "Annotations").is_dir():
        root, annotations = given, given / "Annotations"
    else:
        root, annotations = given.parent, given
    images_dir = root / "JPEGImages"
    if image_set is not None:
        listing = root / "ImageSets" / "Main" / f"{image_set}.txt"
        if not listing.is_file():
            raise FileNotFoundError(f"VOC image set list not found at {listing}. {_DOWNLOAD}")
        stems = [line.split()[0] for line in listing.read_text().splitlines() if line.strip()]
        files = [annotations / f"{stem}.xml" for stem in stems]
    else:
        files = sorted(annotations.glob("*.xml"))
        if not files:
            raise FileNotFoundError(f"no VOC annotation files (*.xml) in {annotations}. {_DOWNLOAD}")
    report = LoadReport(source=str(annotations), n_read=len(files))
    errors = ErrorLog(on_error, report)
    paths: list[str] = []
    labels: list[list[str]] = []
    ids: list[str] = []
    for xml in files:
        if not xml.is_file():
            errors(xml, xml.name, "annotation file missing")
            continue
        try:
            with reading(xml), open_binary(xml) as handle:
                tree = ET.parse(handle)
        except ET.ParseError as err:
            errors(xml, xml.name, f"malformed XML ({err})")
            continue
        node = tree.getroot()
        filename = (node.findtext("filename") or f"{xml.stem}.jpg").strip()
        names: set[str] = set()
        unnamed = False
        for obj in node.iter("object"):
            name = (obj.findtext("name") or "").strip()
            if not name:
                unnamed = True
                break
            difficult = (obj.findtext("difficult") or "0").strip() == "1"
            if difficult and not include_difficult:
                continue
            names.add(name)
        if unnamed:
            errors(xml, xml.name, "an <object> without <name>")
            continue
        if not names:
            errors(xml, xml.name, "no (non-difficult) objects")
            continue
        path = images_dir / filename
        if not check_image_row(path, xml, xml.name, errors, check_images):
            continue
        paths.append(str(path))
        labels.append(sorted(names))
        ids.append(xml.stem)
    report.n_kept = len(paths)
    return ImageData(paths=paths, labels=labels, ids=ids, report=report)


__all__ = ["load_voc"]
