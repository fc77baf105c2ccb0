import math

import pytest
import torch

from neuralab.errors import NeuralabError
from neuralab.train.state import load_state, save_state


def test_nested_state_round_trips_exactly(tmp_path):
    opt = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.1, betas=(0.8, 0.99))
    opt.zero_grad()
    state = {
        "int_keys": {0: torch.arange(3), 7: {"x": 1.5}},
        "tuple": (1, 2.5, "a"),
        "floats": [0.1 + 0.2, math.inf, -math.inf, None, True],
        "optimizer": opt.state_dict(),
        "dtype": torch.float16,
        "empty": {},
    }
    path = save_state(state, tmp_path / "s.ckpt")
    back = load_state(path)
    assert back["int_keys"][7] == {"x": 1.5}
    assert torch.equal(back["int_keys"][0], torch.arange(3))
    assert back["tuple"] == (1, 2.5, "a")
    assert back["floats"][0] == 0.1 + 0.2 and back["floats"][1] == math.inf and back["floats"][2] == -math.inf
    assert back["floats"][3:] == [None, True]
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.99)
    assert back["dtype"] is torch.float16 and back["empty"] == {}
    assert list(tmp_path.iterdir()) == [path], "no temporary file is left behind"


def test_unpicklable_objects_are_refused(tmp_path):
    with pytest.raises(TypeError, match="without pickle"):
        save_state({"f": lambda: 1}, tmp_path / "x.ckpt")


def test_corrupt_checkpoint_gives_one_line_error(tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"\x00" * 20)
    with pytest.raises(NeuralabError, match="bad.ckpt is corrupt"):
        load_state(bad)
    with pytest.raises(NeuralabError, match="does not exist"):
        load_state(tmp_path / "missing.ckpt")


def test_file_is_plain_safetensors_without_pickle(tmp_path):
    from safetensors.torch import load_file

    path = save_state({"w": torch.ones(2)}, tmp_path / "s.ckpt")
    assert list(load_file(path).values())[0].tolist() == [1.0, 1.0]
    assert b"pickle" not in path.read_bytes()
