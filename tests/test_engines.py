"""The OpenVINO engine swaps only the network part: its chroma matches torch's for every shipped model."""

from __future__ import annotations

import numpy as np
import pytest

from chromatize import inference
from chromatize.errors import ChromatizeError

from .conftest import smooth_color_image

pytest.importorskip("openvino")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHROMATIZE_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", list(inference.shipped_models()))
def test_openvino_matches_torch_for_every_shipped_model(name, tmp_path):
    ref = inference.load_model(name, engine="torch")
    ov = inference.load_model(name, engine="openvino")
    assert ov.engine == "openvino" and ref.engine == "torch"
    for shape in ((37, 61), (128, 96)):  # odd sizes: padding and cropping stay outside the engine
        img = smooth_color_image(3, max(shape)).convert("L").resize(shape[::-1])
        p = inference.prepare_input(img)
        l_n = inference.small_l(p, ref.render_size)
        a, b = ref.predict(l_n).chroma(**ref.defaults), ov.predict(l_n).chroma(**ov.defaults)
        assert a.shape == b.shape and float((a - b).abs().max()) < 1e-3
    out_a, out_b = inference.colorize(img, ref), inference.colorize(img, ov)
    assert np.abs(np.asarray(out_a, np.int16) - np.asarray(out_b, np.int16)).max() <= 1
    assert list((tmp_path / "cache" / "openvino").iterdir())  # converted once, cached on disk


def test_auto_and_bad_engine(tiny_cls_dir):
    assert inference.load_model(tiny_cls_dir, engine="auto").engine == "openvino"
    with pytest.raises(ChromatizeError, match="--engine takes one of"):
        inference.load_model(tiny_cls_dir, engine="tpu")
