"""Recurrent models: shapes over every cell, packing, dropout rule, CharRNN loss/generation/statefulness, the
gate-by-gate LSTM against nn.LSTM, and a tiny RNN learning a sum."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models.rnn import RNN, CharRNN, GlassBoxLSTM

CELLS = ("rnn", "lstm", "gru")
LAYOUTS = {"single": {}, "stacked": {"num_layers": 2, "dropout": 0.1}, "bidirectional": {"bidirectional": True},
           "stacked_bidirectional": {"num_layers": 2, "bidirectional": True}}


def make_rnn(seed: int = 0, **kwargs) -> RNN:
    torch.manual_seed(seed)
    return RNN(**{"in_features": 3, "hidden_size": 8, **kwargs})


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("cell", CELLS)
def test_rnn_sweep_shapes_gradients_seed_and_safetensors(cell, layout, tmp_path):
    kwargs = dict(cell=cell, out_features=2, horizon=3, **LAYOUTS[layout])
    model = make_rnn(**kwargs)
    x = torch.randn(4, 6, 3)
    out = model(x)
    assert out.shape == (4, 6)  # (B, horizon·out_features), flat
    assert torch.isfinite(out).all()
    d = 2 if kwargs.get("bidirectional") else 1
    assert model.hidden_states(x).shape == (4, 6, d * 8)

    out.pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} got no gradient"

    again = make_rnn(**kwargs)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs with the same seed"
    assert not torch.equal(make_rnn(seed=1, **kwargs).head.weight, again.head.weight)

    save_file(model.state_dict(), tmp_path / "rnn.safetensors")
    fresh = make_rnn(seed=7, **kwargs)
    fresh.load_state_dict(load_file(tmp_path / "rnn.safetensors"))
    model.eval(), fresh.eval()
    assert torch.equal(model(x), fresh(x))


def test_rnn_accepts_two_dimensional_input_for_one_feature():
    model = make_rnn(in_features=1, horizon=2).eval()
    x = torch.randn(5, 7)
    assert model(x).shape == (5, 2)
    assert torch.equal(model(x), model(x.unsqueeze(-1)))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_packed_batch_matches_each_sequence_run_alone(cell, bidirectional):
    model = make_rnn(cell=cell, bidirectional=bidirectional, num_layers=2, out_features=2).eval()
    lengths = torch.tensor([3, 6, 1, 4])  # unsorted on purpose
    x = torch.full((4, 6, 3), 100.0)  # padding garbage that must be ignored
    seqs = [torch.randn(n, 3) for n in lengths.tolist()]
    for b, s in enumerate(seqs):
        x[b, : len(s)] = s
    out, h = model(x, lengths), model.hidden_states(x, lengths)
    for b, s in enumerate(seqs):
        alone = s.unsqueeze(0)
        torch.testing.assert_close(out[b], model(alone)[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(h[b, : len(s)], model.hidden_states(alone)[0], atol=1e-5, rtol=1e-5)
        assert (h[b, len(s):] == 0).all()


def test_readout_of_hidden_states_is_the_forward_pass():
    model = make_rnn(cell="gru", num_layers=2, bidirectional=True)
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(model.readout(model.hidden_states(x)), model(x))


@pytest.mark.parametrize("cell", CELLS)
def test_hidden_gradients_are_the_total_derivative_through_time(cell):
    torch.manual_seed(0)
    model = make_rnn(cell=cell, in_features=1, num_layers=2)
    x, y = torch.randn(2, 4), torch.randn(2, 1)
    grads = model.hidden_gradients(x, lambda pred: F.mse_loss(pred, y))
    assert grads.shape == (2, 4, 8)
    # finite differences: nudging the top layer's state at step t changes the loss by grads[:, t]
    eps, t, b, j = 1e-3, 1, 0, 3
    losses = []
    for sign in (1, -1):
        state = None
        for s in range(4):
            _, state = model.rnn(x[:, s : s + 1, None], state)
            if s == t:
                h = (state[0] if isinstance(state, tuple) else state).clone()
                h[-1, b, j] += sign * eps
                state = (h, state[1]) if isinstance(state, tuple) else h
        top = (state[0] if isinstance(state, tuple) else state)[-1]
        losses.append(F.mse_loss(model.head(top), y).item())
    assert abs((losses[0] - losses[1]) / (2 * eps) - grads[b, t, j].item()) < 1e-3
    assert (grads.norm(dim=(0, 2)) > 0).all()  # unlike retain_grad on the fused outputs, every step gets one


def test_dropout_needs_stacked_layers():
    with pytest.raises(NeuralabError, match=r"dropout acts between stacked.*num_layers=1"):
        RNN(in_features=1, dropout=0.2)
    with pytest.raises(NeuralabError, match=r"dropout acts between stacked"):
        CharRNN(vocab_size=5, num_layers=1, dropout=0.5)
    model = make_rnn(num_layers=2, dropout=0.5).eval()  # allowed, and inactive in eval mode
    x = torch.randn(2, 4, 3)
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cell": "lsmt"}, r"cell must be one of rnn, lstm, gru; got 'lsmt' \(did you mean 'lstm'\?\)"),
    ({"hidden_size": 0}, "hidden_size must be a positive int; got 0"),
    ({"horizon": 0}, "horizon must be a positive int; got 0"),
    ({"dropout": 1.0, "num_layers": 2}, r"dropout must be in \[0, 1\); got 1.0"),
])
def test_rnn_rejects_bad_arguments(kwargs, message):
    with pytest.raises(NeuralabError, match=message):
        make_rnn(**kwargs)


def test_rnn_rejects_bad_inputs_and_lengths():
    model = make_rnn()
    with pytest.raises(NeuralabError, match=r"input \(B, T, 3\) with T >= 1; got \(2, 4, 5\)"):
        model(torch.randn(2, 4, 5))
    with pytest.raises(NeuralabError, match=r"lengths must lie in \[1, T=4\]; got \[0, 4\]"):
        model(torch.randn(2, 4, 3), torch.tensor([0, 4]))
    with pytest.raises(NeuralabError, match=r"lengths must have shape \(B,\) = \(2,\); got \(3,\)"):
        model(torch.randn(2, 4, 3), torch.tensor([1, 2, 3]))


def test_tiny_rnn_learns_the_sum_of_a_short_sequence():
    torch.manual_seed(0)
    x = torch.rand(64, 5) * 2 - 1  # centred inputs: the sum is centred too, so no large bias must be learned first
    y = x.sum(1, keepdim=True)
    model = RNN(in_features=1, hidden_size=16, cell="gru")
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(100):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    # predicting the mean would score var(y) ≈ 5/3; across seeds the model reaches under 0.01·var(y)
    assert loss.item() < 0.05 * y.var().item()


def make_char(seed: int = 0, **kwargs) -> CharRNN:
    torch.manual_seed(seed)
    return CharRNN(**{"vocab_size": 7, "embedding_dim": 4, "hidden_size": 8, "num_layers": 2, **kwargs})


@pytest.mark.parametrize("cell", CELLS)
def test_char_rnn_loss_is_cross_entropy_over_all_positions(cell):
    model = make_char(cell=cell, dropout=0.2)
    x, y = torch.randint(0, 7, (3, 5)), torch.randint(0, 7, (3, 5))
    loss = model.loss((x, y))
    model.eval()
    expected = F.cross_entropy(model(x).reshape(-1, 7), y.reshape(-1))
    torch.testing.assert_close(model.eval().loss((x, y)), expected)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name} got no gradient"


def test_char_rnn_forward_with_state_continues_a_sequence():
    model = make_char(cell="lstm").eval()
    x = torch.randint(0, 7, (2, 6))
    whole = model(x)
    first, state = model.forward_with_state(x[:, :4])
    rest, _ = model.forward_with_state(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole)


def test_generate_is_deterministic_with_a_seeded_generator_and_restores_the_mode():
    model = make_char(cell="gru").train()
    prompt = torch.tensor([1, 2, 3])
    a = model.generate(prompt, 10, temperature=0.8, generator=torch.Generator().manual_seed(0))
    b = model.generate(prompt, 10, temperature=0.8, generator=torch.Generator().manual_seed(0))
    assert a.shape == (13,) and a.dtype == torch.long
    assert torch.equal(a, b)
    assert torch.equal(a[:3], prompt)
    assert ((a >= 0) & (a < 7)).all()
    assert model.training
    assert torch.equal(model.generate(prompt, 0), prompt)


def test_generate_rejects_bad_temperature_and_prompt():
    model = make_char()
    for temperature in (0.0, -1.0):
        with pytest.raises(NeuralabError, match="temperature must be > 0"):
            model.generate(torch.tensor([1]), 3, temperature=temperature)
    with pytest.raises(NeuralabError, match="prompt must be a non-empty 1-D tensor"):
        model.generate(torch.tensor([], dtype=torch.long), 3)
    with pytest.raises(NeuralabError, match=r"prompt tokens must lie in \[0, 7\); got \[1, 9\]"):
        model.generate(torch.tensor([1, 9]), 3)


def test_stateful_char_rnn_carries_detached_state_and_reset_clears_it():
    model = make_char(stateful=True).train()
    x1, x2 = torch.randint(0, 7, (2, 5)), torch.randint(0, 7, (2, 5))
    model(x1)
    carried = model(x2)
    assert all(not s.requires_grad for s in model._state)
    model.reset_state()
    fresh = model(x2)
    assert not torch.allclose(carried, fresh)  # the first chunk's state changed the second's predictions
    _, state = model.forward_with_state(x1)
    torch.testing.assert_close(carried, model.forward_with_state(x2, state)[0])

    model.reset_state()
    torch.testing.assert_close(model(x2), fresh)  # reset: starts from zeros again
    model(x1)
    torch.testing.assert_close(model(x2[:1]), fresh[:1])  # a new batch size starts fresh
    plain = make_char()
    plain(x1)
    torch.testing.assert_close(plain(x2), fresh)  # without stateful, calls are independent


def test_glass_box_lstm_matches_nn_lstm_outputs_and_gradients_in_float64():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 5, batch_first=True).double()
    for p in lstm.parameters():
        nn.init.normal_(p, std=0.5)  # larger than the default so the gates saturate somewhere
    glass = GlassBoxLSTM.from_torch(lstm)
    assert glass.weight_ih_l0.dtype == torch.float64
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    state = (torch.randn(1, 2, 5, dtype=torch.float64), torch.randn(1, 2, 5, dtype=torch.float64))
    weights = [torch.randn(2, 6, 5, dtype=torch.float64), torch.randn(1, 2, 5, dtype=torch.float64),
               torch.randn(1, 2, 5, dtype=torch.float64)]

    def run(module):
        inputs = [t.clone().requires_grad_() for t in (x, *state)]
        out, (h_n, c_n) = module(inputs[0], (inputs[1], inputs[2]))
        loss = sum((w * t).sum() for w, t in zip(weights, (out, h_n, c_n)))
        grads = torch.autograd.grad(loss, [*inputs, *module.parameters()])
        return [out, h_n, c_n, *grads]

    got, expected = run(glass), run(lstm)
    assert len(got) == len(expected) == 3 + 3 + 4
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        assert (a - b).abs().max() <= 1e-6


def test_glass_box_lstm_loads_an_lstm_state_dict_and_exposes_gates():
    torch.manual_seed(0)
    lstm = nn.LSTM(2, 4, batch_first=True)
    glass = GlassBoxLSTM(2, 4)
    glass.load_state_dict(lstm.state_dict())
    x = torch.randn(3, 5, 2)
    out, (_h_n, c_n) = glass(x)
    torch.testing.assert_close(out, lstm(x)[0])
    gates = glass.gates(x)
    assert set(gates) == {"i", "f", "g", "o", "c", "h"}
    assert all(g.shape == (3, 5, 4) for g in gates.values())
    for key in "ifo":
        assert ((gates[key] > 0) & (gates[key] < 1)).all()
    torch.testing.assert_close(gates["h"], gates["o"] * torch.tanh(gates["c"]))
    torch.testing.assert_close(gates["c"][:, -1], c_n[0])


def test_glass_box_lstm_rejects_stacked_lstms_and_bad_state():
    with pytest.raises(NeuralabError, match="from_torch needs a 1-layer unidirectional nn.LSTM"):
        GlassBoxLSTM.from_torch(nn.LSTM(2, 4, num_layers=2))
    glass = GlassBoxLSTM(2, 4)
    with pytest.raises(NeuralabError, match=r"each \(1, B, H\) = \(1, 3, 4\); got \[\(3, 4\), \(3, 4\)\]"):
        glass(torch.randn(3, 5, 2), (torch.zeros(3, 4), torch.zeros(3, 4)))


def test_normalize_forecasts_relative_to_the_window_level():
    torch.manual_seed(0)
    model = RNN(in_features=2, hidden_size=8, horizon=3, normalize=True, target=1)
    x = torch.randn(4, 10, 2)
    shift = torch.tensor([5.0, -3.0])
    # Shifting every channel's level shifts the forecast by the target channel's shift, and nothing else.
    assert torch.allclose(model(x + shift), model(x) - 3.0, atol=1e-5)
    padded = torch.cat([x[:1, :6], torch.full((1, 4, 2), 99.0)], dim=1)
    assert torch.allclose(model(padded, lengths=torch.tensor([6])), model(x[:1, :6]), atol=1e-5)
    with pytest.raises(NeuralabError, match="out_features"):
        RNN(in_features=1, out_features=3, normalize=True)
    with pytest.raises(NeuralabError, match="target"):
        RNN(in_features=2, target=2)
