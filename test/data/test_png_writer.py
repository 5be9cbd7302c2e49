"""Our PNG encoder: Pillow decodes every supported kind bit-exactly."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cleanpose_ros.data.png_writer import FILTER_NONE, FILTER_SUB, encode_png


@pytest.mark.parametrize("row_filter", [None, FILTER_NONE, FILTER_SUB])
@pytest.mark.parametrize("shape,dtype", [((7, 5), np.uint8), ((7, 5, 3), np.uint8), ((7, 5), np.uint16)])
def test_round_trip(shape, dtype, row_filter) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, np.iinfo(dtype).max + 1, size=shape, dtype=dtype)
    back = np.array(Image.open(io.BytesIO(encode_png(img, row_filter=row_filter))))
    assert back.dtype == dtype and np.array_equal(back, img)


def test_rejects_unsupported() -> None:
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4, 4), np.uint8))
