"""Image and file I/O under the data contract (see :mod:`inpaintscope.contract`)."""

from .atomic import atomic_open, atomic_write_bytes, atomic_write_text
from .images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    ImageSource,
    decode_image,
    encode_image,
    list_image_files,
    read_file_bytes,
    read_image,
    read_mask,
    to_rgb,
    write_image,
)
from .names import printable
from .records import read_json_object

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "ImageSource",
    "atomic_open",
    "atomic_write_bytes",
    "atomic_write_text",
    "decode_image",
    "encode_image",
    "list_image_files",
    "printable",
    "read_file_bytes",
    "read_image",
    "read_json_object",
    "read_mask",
    "to_rgb",
    "write_image",
]
