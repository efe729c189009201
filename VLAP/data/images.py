"""Images: the one decoder and the one pixel-scaling registry of VLAP.

Everything VLAP knows about image pixels lives here, upstream of the models:

- `PIXEL_SCALINGS` (mode -> formula) and `BACKBONE_SCALINGS` (backbone name ->
  mode). `scale_pixels` applies a mode to numpy arrays, `tf.Tensor`s (in
  `tf.data`) and, through `flip`/`constant`, to `keras.ops` tensors: the
  in-model `VLAP.models.ImagePreprocessing` layer and `create_dataset` use the
  same formula and the same constants.
- `decode_image` / `load_images`: the one decode-and-resize function (PIL,
  bilinear). `create_dataset(is_image=True)` calls it inside `tf.data`, so a
  file decodes to the same pixels whichever path reads it, and a damaged file
  (truncated JPEG, empty file, text named `.jpg`) raises `ImageDecodeError`
  naming the file.

The rule against double scaling: VLAP's image classifiers scale their input
inside the model, so pipelines feed raw [0, 255] pixels (`create_dataset`'s
default). A named scaling in `create_dataset(scale=...)` is only for models that
do not scale themselves, and a backbone name there is refused.
"""

import os

import numpy as np

from VLAP._validation import check_option

# mode -> the formula ``((flip(x) if bgr else x) / divisor - mean) / std`` on
# float RGB pixels in [0, 255]. Names follow the pixel range they produce; the
# keras.applications `preprocess_input` mode names ("tf", "caffe", "torch") are
# accepted through `SCALING_ALIASES`.
PIXEL_SCALINGS = {
    "raw": {"description": "unchanged: float RGB in [0, 255]",
            "bgr": False, "divisor": 1.0, "mean": None, "std": None},
    "unit": {"description": "x / 255: [0, 1]",
             "bgr": False, "divisor": 255.0, "mean": None, "std": None},
    "symmetric": {"description": "x / 127.5 - 1: [-1, 1] (keras.applications 'tf' mode)",
                  "bgr": False, "divisor": 127.5, "mean": (1.0, 1.0, 1.0), "std": None},
    "caffe": {"description": "RGB -> BGR, minus the ImageNet BGR mean (keras.applications 'caffe')",
              "bgr": True, "divisor": 1.0, "mean": (103.939, 116.779, 123.68), "std": None},
    "torch": {"description": "x / 255, then ImageNet mean/std (keras.applications 'torch')",
              "bgr": False, "divisor": 255.0, "mean": (0.485, 0.456, 0.406),
              "std": (0.229, 0.224, 0.225)},
}

#: Other names of the modes: keras.applications' `preprocess_input` modes and
#: the names earlier VLAP models stored in their configs (so those still load).
SCALING_ALIASES = {"tf": "symmetric", "none": "raw", "rescale": "unit"}

# backbone name -> the scaling its weights were trained with, applied to
# [0, 255] RGB inputs. "raw" means the backbone rescales inside itself.
BACKBONE_SCALINGS = {
    **dict.fromkeys(("mobilenet", "mobilenet_v2", "inception_v3", "inception_resnet_v2",
                     "xception", "nasnet"), "symmetric"),
    **dict.fromkeys(("resnet50", "resnet101", "resnet152", "vgg16", "vgg19"), "caffe"),
    **dict.fromkeys(("densenet121", "densenet169", "densenet201"), "torch"),
    **dict.fromkeys(("mobilenet_v3_small", "mobilenet_v3_large", "convnext_tiny",
                     "convnext_small", "convnext_base"), "raw"),
    **{f"efficientnet_b{i}": "raw" for i in range(8)},
    **{f"efficientnet_v2_{s}": "raw" for s in ("b0", "b1", "b2", "b3", "s", "m", "l")},
    **{f"efficientnet_lite{i}": "raw" for i in range(5)},  # (x - 127) / 128 inside
    "small_cnn": "unit",  # VLAP's test/demo CNN
}


class ImageDecodeError(ValueError):
    """An image file could not be read or decoded; the message names the file."""


def resolve_scaling(mode, name="scale"):
    """Canonical name of a pixel-scaling mode (aliases resolved).

    Args:
        mode: str. A key of `PIXEL_SCALINGS` or of `SCALING_ALIASES`.
        name: str. The argument name used in the error message.

    Returns:
        str. A key of `PIXEL_SCALINGS`.

    Example:
    >>> resolve_scaling("tf"), resolve_scaling("caffe")
    ('symmetric', 'caffe')
    """
    if not isinstance(mode, str):
        raise TypeError(f"`{name}` must be a str. Received: {name}={mode!r}")
    key = SCALING_ALIASES.get(mode.lower(), mode.lower())
    if key not in PIXEL_SCALINGS:
        check_option(name, mode, (*PIXEL_SCALINGS, *SCALING_ALIASES))  # raises
    return key


def backbone_scaling(backbone):
    """The pixel-scaling mode a named backbone expects on [0, 255] inputs.

    Example:
    >>> backbone_scaling("mobilenet_v2"), backbone_scaling("resnet50")
    ('symmetric', 'caffe')
    """
    if backbone not in BACKBONE_SCALINGS:
        raise ValueError(f"No pixel scaling is known for backbone {backbone!r}. Known "
                         f"backbones: {sorted(BACKBONE_SCALINGS)}")
    return BACKBONE_SCALINGS[backbone]


def scale_pixels(images, mode, *, flip=None, constant=None):
    """Apply a `PIXEL_SCALINGS` mode to float RGB pixels in [0, 255].

    Args:
        images: float array or tensor `(..., 3)`, channels last.
        mode: str. A scaling mode (or alias).
        flip: callable or None. Reverses the channel axis; None uses
            `x[..., ::-1]` (numpy and TensorFlow). Pass
            `lambda x: keras.ops.flip(x, axis=-1)` for `keras.ops` tensors.
        constant: callable or None. Turns a per-channel tuple into a tensor
            of the images' dtype; None uses the tuple as it is.

    Returns:
        The scaled images, same shape.

    Example:
    >>> x = np.array([[0.0, 127.5, 255.0]], "float32")
    >>> scale_pixels(x, "symmetric").tolist()
    [[-1.0, 0.0, 1.0]]
    """
    spec = PIXEL_SCALINGS[resolve_scaling(mode, "mode")]
    constant = constant or (lambda v: np.asarray(v, "float32"))
    x = images
    if spec["bgr"]:
        x = flip(x) if flip is not None else x[..., ::-1]
    if spec["divisor"] != 1.0:
        x = x / spec["divisor"]
    if spec["mean"] is not None:
        x = x - constant(spec["mean"])
    if spec["std"] is not None:
        x = x / constant(spec["std"])
    return x


# -------------------------------------------------------------------------- decoding


def check_image_size(image_size):
    """`image_size` (int or (height, width)) as a (height, width) tuple of ints."""
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif (isinstance(image_size, (tuple, list)) and len(image_size) == 2
          and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in image_size)):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise TypeError(f"`image_size` must be an int or (height, width). Received: "
                        f"image_size={image_size!r}")
    if min(size) < 1:
        raise ValueError(f"`image_size` must be positive. Received: image_size={image_size!r}")
    return size


def decode_image(path, image_size):
    """Decode one image file to RGB and resize it (bilinear), as uint8.

    Any format PIL reads (JPEG, PNG, GIF's first frame, BMP, ...); grayscale,
    palette and RGBA images become RGB (alpha is dropped).

    Args:
        path: str or path. The image file.
        image_size: int or (height, width). The output size.

    Returns:
        uint8 array `(height, width, 3)`.

    Raises:
        ImageDecodeError: the file is missing, empty, truncated or not an
            image; the message names the file.
    """
    from PIL import Image

    height, width = check_image_size(image_size)
    path = os.fspath(path)
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")  # decodes the whole file: truncation raises here
            if im.size != (width, height):
                im = im.resize((width, height), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        reason = "the file is empty" if _is_empty(path) else f"{type(err).__name__}: {err}"
        raise ImageDecodeError(f"Cannot decode image file {path!r}: {reason}") from None


def load_images(paths, image_size):
    """Decode and resize image files into one uint8 array.

    Args:
        paths: sequence of str or paths. Image files (JPEG, PNG, ...).
        image_size: int or (height, width). Every image is resized to it.

    Returns:
        uint8 array `(len(paths), height, width, 3)`, RGB.

    Raises:
        ImageDecodeError: a file cannot be decoded (the message names it).

    Example:
    >>> import tempfile, PIL.Image
    >>> path = os.path.join(tempfile.mkdtemp(), "red.png")
    >>> PIL.Image.new("RGB", (40, 30), (255, 0, 0)).save(path)
    >>> x = load_images([path], 8)
    >>> x.shape, x.dtype.name, x[0, 0, 0].tolist()
    ((1, 8, 8, 3), 'uint8', [255, 0, 0])
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"`paths` must be a sequence of file paths, not a single path: {paths!r}")
    size = check_image_size(image_size)
    paths = [os.fsdecode(p) for p in paths]
    out = np.empty((len(paths), *size, 3), dtype=np.uint8)
    # PIL releases the GIL while it decodes and resizes, so threads overlap.
    for i, image in enumerate(_decoder_pool().map(lambda p: decode_image(p, size), paths)):
        out[i] = image
    return out


def undecodable(paths):
    """The files of `paths` that `decode_image` cannot read, with the reason.

    Each file is decoded in full (on threads, as `load_images` does), so what
    this lists is exactly what `load_images` would fail on.

    Args:
        paths: sequence of str or paths.

    Returns:
        list of `(index, message)`, in the order of `paths`; the message names
        the file (`ImageDecodeError`'s).

    Example:
    >>> import tempfile, PIL.Image
    >>> folder = tempfile.mkdtemp()
    >>> PIL.Image.new("RGB", (4, 4)).save(os.path.join(folder, "ok.png"))
    >>> open(os.path.join(folder, "bad.jpg"), "w").close()
    >>> [(i, "the file is empty" in m) for i, m in undecodable(
    ...     [os.path.join(folder, "ok.png"), os.path.join(folder, "bad.jpg")])]
    [(1, True)]
    """
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"`paths` must be a sequence of file paths, not a single path: {paths!r}")

    def problem(path):
        try:
            decode_image(path, 1)
        except ImageDecodeError as err:
            return str(err)
        return None

    found = _decoder_pool().map(problem, [os.fsdecode(p) for p in paths])
    return [(i, message) for i, message in enumerate(found) if message is not None]


_POOL: list = []


def _decoder_pool():
    if not _POOL:
        from concurrent.futures import ThreadPoolExecutor

        _POOL.append(ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1),
                                        thread_name_prefix="VLAP-decode"))
    return _POOL[0]


def _is_empty(path):
    try:
        return os.path.getsize(path) == 0
    except OSError:
        return False


# -------------------------------------------------------------------------- tf.data

# Paths per numpy_function call: amortises the call and lets the threads overlap.
_DECODE_CHUNK = 16


def image_dataset(tf, paths, labels, size, *, seed, shuffle, cache, augment, scaling):
    """Unbatched `tf.data.Dataset` of float32 images `(h, w, 3)` (and labels).

    Decoding goes through `load_images` (a `tf.numpy_function` on chunks of
    `_DECODE_CHUNK` paths, decoded on threads), so a damaged file stops
    iteration with an error naming it. With `cache`, the decoded
    images are cached and then shuffled over the **whole** set each epoch
    (the buffer holds references to the cached images, not copies, for an
    in-memory cache; a file cache is read back into the buffer).
    """
    n = len(paths)
    ds = tf.data.Dataset.from_tensor_slices(paths if labels is None else (paths, labels))
    has_labels = labels is not None

    def load(chunk):  # a chunk of paths -> (k, h, w, 3) float32, decoded on threads
        images = tf.numpy_function(lambda p: load_images(p, size), [chunk], tf.uint8,
                                   stateful=False)
        images.set_shape((None, *size, 3))
        return tf.cast(images, tf.float32)

    if shuffle and not cache:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)  # cheap: paths only
    ds = ds.batch(_DECODE_CHUNK).map((lambda p, t: (load(p), t)) if has_labels else load,
                                     num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    if cache:
        ds = ds.cache() if cache is True else ds.cache(cache)
        if shuffle:
            ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)

    if augment:
        crop = (max(1, int(round(size[0] * 0.875))), max(1, int(round(size[1] * 0.875))))
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(4)
        seeds = seeds.map(lambda s: tf.reshape(s, (2, 2)))

        def aug(image, s):
            image = tf.image.stateless_random_flip_left_right(image, seed=s[0])
            image = tf.image.stateless_random_crop(image, (*crop, 3), seed=s[1])
            return tf.image.resize(image, size)

        ds = tf.data.Dataset.zip((ds, seeds))
        if has_labels:
            ds = ds.map(lambda el, s: (aug(el[0], s), el[1]), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = ds.map(aug, num_parallel_calls=tf.data.AUTOTUNE)

    if scaling != "raw":
        def rescale(image):
            return scale_pixels(image, scaling)

        ds = ds.map((lambda x, t: (rescale(x), t)) if has_labels else rescale,
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds
