"""Recurrent networks: a sequence-to-vector model, a character language model, and an LSTM written out gate by gate.

A recurrent network reads a sequence one step at a time and keeps a hidden state ``h_t = f(x_t, h_{t-1})``.

- ``cell="rnn"``: the simple recurrent network, ``h_t = tanh(W x_t + U h_{t-1} + b)`` (Elman 1990, "Finding
  structure in time", Cognitive Science 14(2)). Its gradients vanish or explode over long spans.
- ``cell="lstm"``: long short-term memory (Hochreiter & Schmidhuber 1997, "Long short-term memory", Neural
  Computation 9(8)). It has a cell state ``c_t`` that input, forget and output gates write to, erase and read, and
  the forget gate of Gers, Schmidhuber & Cummins (2000, "Learning to forget: continual prediction with LSTM",
  Neural Computation 12(10)). :class:`GlassBoxLSTM` spells out its equations.
- ``cell="gru"``: the gated recurrent unit, which has reset and update gates and no separate cell state (Cho et al.
  2014, "Learning phrase representations using RNN encoder-decoder for statistical machine translation", EMNLP).

:class:`RNN` and :class:`CharRNN` run on torch's fused ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (``batch_first``).
:class:`CharRNN` is Karpathy's char-rnn (2015, "The unreasonable effectiveness of recurrent neural networks").
With ``stateful=True`` it trains by truncated backpropagation through time over a long stream (Williams & Peng
1990, "An efficient gradient-based algorithm for on-line training of recurrent network trajectories").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from neuralab.errors import NeuralabError, did_you_mean

__all__ = ["CELLS", "RNN", "CharRNN", "GlassBoxLSTM"]

Cell = Literal["rnn", "lstm", "gru"]
State = Tensor | tuple[Tensor, Tensor]  # h for rnn/gru, (h, c) for lstm; each (num_layers·D, B, H)
CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _check_positive(name: str, value: int) -> None:
    """Raise unless ``value`` is a positive int."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise NeuralabError(f"{name} must be a positive int; got {value!r}")


def _build_rnn(cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float,
               bidirectional: bool) -> nn.RNNBase:
    """A checked, batch-first fused recurrent layer stack."""
    if cell not in CELLS:
        raise NeuralabError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}{did_you_mean(str(cell), CELLS)}")
    _check_positive("hidden_size", hidden_size)
    _check_positive("num_layers", num_layers)
    if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise NeuralabError(f"dropout must be in [0, 1); got {dropout!r}")
    if dropout > 0 and num_layers == 1:
        # torch only drops out between stacked layers, so it would silently do nothing here.
        raise NeuralabError(f"dropout acts between stacked recurrent layers and needs num_layers > 1; got "
                            f"dropout={dropout} with num_layers=1 (set dropout=0 or num_layers>=2)")
    return CELLS[cell](input_size, hidden_size, num_layers, batch_first=True, dropout=float(dropout),
                       bidirectional=bidirectional)


def _detach(state: State) -> State:
    """The state cut from the graph: truncated BPTT stops gradients at the chunk boundary."""
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()  # type: ignore


class RNN(nn.Module):
    """A recurrent encoder read out at the last step: sequences ``(B, T, F)`` → ``(B, horizon·out_features)``.

    The top layer's output at each sequence's last valid step goes through one linear layer. For a bidirectional
    network the read-out joins the forward direction's last valid step and the backward direction's first step,
    since each has then read the whole sequence.

    Parameters
    ----------
    in_features
        Features per time step ``F``. With ``in_features=1`` an input ``(B, T)`` is also accepted.
    hidden_size
        Width ``H`` of the hidden state in each layer and direction.
    out_features
        Outputs per predicted step: 1 for a regression target, the number of classes for a classifier.
    cell
        ``"rnn"`` (Elman, tanh), ``"lstm"`` or ``"gru"``.
    num_layers
        Stacked recurrent layers.
    bidirectional
        Also run a backward recurrence (the read-out doubles to ``2H`` features).
    dropout
        Dropout between stacked layers, as in torch. It needs ``num_layers > 1``.
    horizon
        Number of future steps to predict. The output is flat, ``(B, horizon·out_features)``, step-major, so that
        a mean-squared error against ``(B, horizon)`` targets works directly.
    normalize
        Forecast relative to the window's level: subtract each input channel's mean over the window, and add the
        ``target`` channel's mean back to the predictions (reversible instance normalisation, Kim et al. 2022,
        "Reversible instance normalization for accurate time-series forecasting against distribution shift",
        without its learned affine and scale). A bounded recurrent network cannot output levels it never saw in
        training; relative to the window it can, which is what a trending series needs. Regression only.
    target
        The input channel that is forecast (its window mean is added back when ``normalize``).

    Examples
    --------
    >>> model = RNN(in_features=1, hidden_size=16, horizon=3)
    >>> model(torch.zeros(8, 20)).shape  # 8 windows of 20 values → the next 3 values
    torch.Size([8, 3])
    >>> model(torch.zeros(2, 5, 1), lengths=torch.tensor([5, 3])).shape  # padded batch
    torch.Size([2, 3])
    """

    def __init__(self, in_features: int, hidden_size: int = 64, out_features: int = 1, *, cell: Cell = "lstm",
                 num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0, horizon: int = 1,
                 normalize: bool = False, target: int = 0) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features), ("horizon", horizon)):
            _check_positive(name, value)
        if normalize and out_features != 1:
            raise NeuralabError(f"normalize forecasts one value per step; it needs out_features=1, got {out_features}")
        if not 0 <= target < in_features:
            raise NeuralabError(f"target must be an input channel in 0..{in_features - 1}; got {target}")
        self.normalize, self.target = normalize, target
        self.rnn = _build_rnn(cell, in_features, hidden_size, num_layers, dropout, bidirectional)
        self.in_features, self.hidden_size, self.out_features, self.horizon = (in_features, hidden_size,
                                                                               out_features, horizon)
        self.num_directions = 2 if bidirectional else 1
        self.head = nn.Linear(self.num_directions * hidden_size, horizon * out_features)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Predictions ``(B, horizon·out_features)`` for sequences ``(B, T, F)`` (or ``(B, T)`` when ``F == 1``).

        ``lengths`` ``(B,)`` gives each sequence's valid length in a right-padded batch (any order). Torch needs
        it on the CPU to pack the batch, so a CUDA tensor is copied there.
        """
        if not self.normalize:
            return self.readout(self.hidden_states(x, lengths), lengths)
        x = self._check_input(x)  # (B, T, F)
        if lengths is None:
            level = x.mean(1, keepdim=True)  # (B, 1, F)
        else:
            valid = torch.arange(x.shape[1], device=x.device) < lengths.to(x.device).view(-1, 1)  # (B, T)
            level = (x * valid.unsqueeze(-1)).sum(1, keepdim=True) / valid.sum(1).view(-1, 1, 1)
        out = self.readout(self.hidden_states(x - level, lengths), lengths)  # (B, horizon)
        return out + level[:, :, self.target]

    def hidden_states(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """The top layer's outputs ``(B, T, D·H)`` (D = 2 when bidirectional, forward direction first), in the graph.

        ``model.readout(h, lengths)`` turns them into predictions. With ``lengths``, steps past a sequence's end are
        zero. The fused kernel does not feed this tensor back into the recurrence, so ``h.retain_grad()`` sees only
        the read-out's direct gradient. :meth:`hidden_gradients` gives the gradient through time.
        """
        x = self._check_input(x)  # (B, T, F)
        if lengths is None:
            return self.rnn(x)[0]  # (B, T, D·H)
        packed = pack_padded_sequence(x, self._check_lengths(lengths, x), batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        return out  # (B, T, D·H), back in the input order

    def readout(self, h: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Predictions ``(B, horizon·out_features)`` from :meth:`hidden_states` ``h`` ``(B, T, D·H)``."""
        H = self.hidden_size
        if lengths is None:
            last = h[:, -1, :H]  # (B, H)
        else:
            index = (lengths.to(h.device, torch.long) - 1).view(-1, 1, 1).expand(-1, 1, H)  # (B, 1, H)
            last = h[:, :, :H].gather(1, index).squeeze(1)  # (B, H): each sequence's last valid step
        if self.num_directions == 2:
            last = torch.cat([last, h[:, 0, H:]], dim=1)  # (B, 2H): the backward direction ends at t = 0
        return self.head(last)

    def hidden_gradients(self, x: Tensor, loss_fn: Callable[[Tensor], Tensor]) -> Tensor:
        """``∂loss/∂h_t`` ``(B, T, H)``: the gradient of ``loss_fn(model(x))`` with respect to the top layer's hidden
        state at every step, through all later steps. Its norm against ``t`` shows vanishing gradients.

        The fused layers are stepped one time step at a time, and a zero probe is added to the top layer's state.
        The probe changes no value, and its gradient is the total derivative. Unidirectional models only.

        Examples
        --------
        >>> model = RNN(in_features=1, hidden_size=8, cell="rnn")
        >>> x, y = torch.randn(4, 30), torch.randn(4, 1)
        >>> g = model.hidden_gradients(x, lambda pred: F.mse_loss(pred, y))
        >>> g.norm(dim=-1).mean(0).shape  # one norm per time step
        torch.Size([30])
        """
        if self.num_directions == 2:
            raise NeuralabError("hidden_gradients needs a unidirectional model; got bidirectional=True")
        x = self._check_input(x)  # (B, T, F)
        probes = x.new_zeros(x.shape[1], x.shape[0], self.hidden_size, requires_grad=True)  # (T, B, H)
        state: State | None = None
        for t in range(x.shape[1]):
            _, state = self.rnn(x[:, t : t + 1], state)
            h = state[0] if isinstance(state, tuple) else state  # (num_layers, B, H)
            h = torch.cat([h[:-1], (h[-1] + probes[t]).unsqueeze(0)])  # probe the top layer's state
            state = (h, state[1]) if isinstance(state, tuple) else h
        (grad,) = torch.autograd.grad(loss_fn(self.head(h[-1])), probes)
        return grad.transpose(0, 1)  # (B, T, H)

    def _check_input(self, x: Tensor) -> Tensor:
        """``x`` as ``(B, T, F)``, or a clear error."""
        if x.dim() == 2 and self.in_features == 1:
            x = x.unsqueeze(-1)
        if x.dim() != 3 or x.shape[-1] != self.in_features or x.shape[1] == 0:
            raise NeuralabError(f"RNN expects input (B, T, {self.in_features}) with T >= 1"
                                f"{' or (B, T)' if self.in_features == 1 else ''}; got {tuple(x.shape)}")
        return x

    @staticmethod
    def _check_lengths(lengths: Tensor, x: Tensor) -> Tensor:
        """``lengths`` as a CPU int64 tensor ``(B,)`` with values in ``[1, T]``, or a clear error."""
        if lengths.shape != (x.shape[0],):
            raise NeuralabError(f"lengths must have shape (B,) = ({x.shape[0]},); got {tuple(lengths.shape)}")
        cpu = lengths.detach().to("cpu", torch.int64)  # pack_padded_sequence wants them on the CPU anyway
        if cpu.min() < 1 or cpu.max() > x.shape[1]:
            raise NeuralabError(f"lengths must lie in [1, T={x.shape[1]}]; got {cpu.tolist()}")
        return cpu


class CharRNN(nn.Module):
    """A character-level language model: embedding → stacked recurrent layers → logits over the next character.

    Parameters
    ----------
    vocab_size
        Number of distinct tokens ``V``.
    embedding_dim
        Size of each token's learned embedding.
    hidden_size
        Width ``H`` of each recurrent layer.
    cell
        ``"rnn"``, ``"lstm"`` or ``"gru"``.
    num_layers
        Stacked recurrent layers.
    dropout
        Dropout between stacked layers. It needs ``num_layers > 1``.
    stateful
        Truncated BPTT over one long stream. In training mode, each call to ``forward`` (and so ``loss``) starts
        from the previous call's final hidden state, detached from the graph, when the batch size is unchanged.
        The data must then be ``B`` parallel contiguous streams fed in order: row ``b`` of batch ``k + 1``
        continues row ``b`` of batch ``k``, with shuffling off. Call :meth:`reset_state` at each epoch's start.
        The carried state is not saved in the ``state_dict``, and it is not moved by ``.to()``.

    Examples
    --------
    >>> model = CharRNN(vocab_size=65, hidden_size=32)
    >>> x = torch.randint(0, 65, (4, 10))
    >>> model(x).shape
    torch.Size([4, 10, 65])
    >>> model.generate(x[0, :3], length=5).shape
    torch.Size([8])
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 64, hidden_size: int = 512, *, cell: Cell = "lstm",
                 num_layers: int = 2, dropout: float = 0.0, stateful: bool = False) -> None:
        super().__init__()
        _check_positive("vocab_size", vocab_size)
        _check_positive("embedding_dim", embedding_dim)
        self.vocab_size, self.stateful = vocab_size, stateful
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = _build_rnn(cell, embedding_dim, hidden_size, num_layers, dropout, bidirectional=False)
        self.head = nn.Linear(hidden_size, vocab_size)
        self._state: State | None = None  # the carried state in stateful training; runtime only

    def forward(self, x: Tensor, state: State | None = None) -> Tensor:
        """Next-token logits ``(B, T, V)`` for tokens ``x`` ``(B, T)`` (long), from ``state`` or zeros.

        In stateful training with no explicit ``state``, the carried state is used and then updated.
        """
        carry = self.stateful and self.training and state is None
        if carry and self._state is not None and _batch_size(self._state) == x.shape[0]:
            state = self._state
        logits, new_state = self.forward_with_state(x, state)
        if carry:
            self._state = _detach(new_state)
        return logits

    def forward_with_state(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """Logits ``(B, T, V)`` and the final state (``h`` or ``(h, c)``, each ``(num_layers, B, H)``)."""
        if x.dim() != 2 or x.is_floating_point():
            raise NeuralabError(f"CharRNN expects integer tokens (B, T); got {x.dtype} of shape {tuple(x.shape)}")
        out, new_state = self.rnn(self.embedding(x), state)  # (B, T, H)
        return self.head(out), new_state  # (B, T, V)

    def reset_state(self) -> None:
        """Forget the carried hidden state; the next stateful call starts from zeros."""
        self._state = None

    def loss(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """Mean cross-entropy in nats per character over all ``B·T`` positions of ``batch = (x, y)``, both
        ``(B, T)`` long, where ``y`` is ``x`` shifted one character ahead."""
        if len(batch) != 2:
            raise NeuralabError(f"CharRNN.loss expects a batch (x, y); got {len(batch)} tensors")
        x, y = batch
        if x.shape != y.shape:
            raise NeuralabError(f"x and y must have the same shape (B, T); got {tuple(x.shape)} and "
                                f"{tuple(y.shape)}")
        logits = self(x)  # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, self.vocab_size), y.reshape(-1))

    @torch.no_grad()
    def generate(self, prompt: Tensor, length: int, *, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> Tensor:
        """Sample ``length`` tokens after ``prompt``, each from ``softmax(logits / temperature)``.

        ``prompt`` ``(T0,)``, with ``T0 >= 1``, conditions the sample. ``temperature`` must be > 0: below 1 the
        samples are more conservative, above 1 more varied. ``generator`` (on the model's device) makes them
        reproducible. Returns ``(T0 + length,)`` long, the prompt followed by the sample. The model samples in eval
        mode, and its mode is restored afterwards.
        """
        if not temperature > 0:
            raise NeuralabError(f"temperature must be > 0; got {temperature} (use e.g. 0.1 for near-greedy text)")
        if not isinstance(length, int) or length < 0:
            raise NeuralabError(f"length must be a non-negative int; got {length!r}")
        if prompt.dim() != 1 or prompt.numel() == 0 or prompt.is_floating_point():
            raise NeuralabError(f"prompt must be a non-empty 1-D tensor of token ids; got {prompt.dtype} of "
                                f"shape {tuple(prompt.shape)}")
        if prompt.min() < 0 or prompt.max() >= self.vocab_size:
            raise NeuralabError(f"prompt tokens must lie in [0, {self.vocab_size}); got {prompt.tolist()}")
        was_training = self.training
        self.eval()
        try:
            tokens = [prompt.to(self.head.weight.device, torch.long)]
            logits, state = self.forward_with_state(tokens[0].unsqueeze(0))  # (1, T0, V)
            for _ in range(length):
                probs = torch.softmax(logits[0, -1] / temperature, dim=-1)  # (V,)
                token = torch.multinomial(probs, 1, generator=generator)  # (1,)
                tokens.append(token)
                logits, state = self.forward_with_state(token.unsqueeze(0), state)  # (1, 1, V)
        finally:
            self.train(was_training)
        return torch.cat(tokens)


def _batch_size(state: State) -> int:
    """The batch size of a recurrent state."""
    return (state[0] if isinstance(state, tuple) else state).shape[1]


class GlassBoxLSTM(nn.Module):
    """One LSTM layer written out gate by gate, looping over time in Python, for teaching and plotting.

    For input ``x_t`` and previous state ``(h, c)``::

        i  = σ(W_ii x_t + b_ii + W_hi h + b_hi)      input gate: how much new content to write
        f  = σ(W_if x_t + b_if + W_hf h + b_hf)      forget gate: how much of the old cell to keep
        g  = tanh(W_ig x_t + b_ig + W_hg h + b_hg)   candidate content
        o  = σ(W_io x_t + b_io + W_ho h + b_ho)      output gate: how much of the cell to show
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c')

    The parameters are laid out as in a 1-layer ``nn.LSTM``. ``weight_ih_l0`` ``(4H, F)``, ``weight_hh_l0``
    ``(4H, H)``, ``bias_ih_l0`` and ``bias_hh_l0`` ``(4H,)`` stack the gates in the order i, f, g, o. So
    ``load_state_dict(lstm.state_dict())`` and :meth:`from_torch` copy a trained ``nn.LSTM`` exactly, and the
    outputs agree to rounding. The input is always batch-first.

    Parameters
    ----------
    input_size
        Features per time step ``F``.
    hidden_size
        Width ``H`` of the hidden and cell states.

    Examples
    --------
    >>> lstm = nn.LSTM(3, 8, batch_first=True)
    >>> glass = GlassBoxLSTM.from_torch(lstm)
    >>> x = torch.randn(2, 5, 3)
    >>> torch.allclose(glass(x)[0], lstm(x)[0], atol=1e-6)
    True
    >>> glass.gates(x)["f"].shape  # the forget gate at every step
    torch.Size([2, 5, 8])
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        _check_positive("input_size", input_size)
        _check_positive("hidden_size", hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ``±1/√H``, as ``nn.LSTM`` initialises."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @classmethod
    def from_torch(cls, lstm: nn.LSTM) -> GlassBoxLSTM:
        """A copy of a 1-layer, unidirectional ``nn.LSTM`` with biases and no projection, on its device and dtype."""
        if not isinstance(lstm, nn.LSTM) or lstm.num_layers != 1 or lstm.bidirectional or not lstm.bias \
                or lstm.proj_size:
            raise NeuralabError(f"from_torch needs a 1-layer unidirectional nn.LSTM with bias=True and "
                                f"proj_size=0; got {lstm!r}")
        ref = lstm.weight_ih_l0
        glass = cls(lstm.input_size, lstm.hidden_size).to(device=ref.device, dtype=ref.dtype)
        glass.load_state_dict(lstm.state_dict())
        return glass

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``(output (B, T, H), (h_n (1, B, H), c_n (1, B, H)))`` for ``x`` ``(B, T, F)``, as ``nn.LSTM`` returns.

        ``state`` is ``(h_0, c_0)``, each ``(1, B, H)``; zeros when omitted.
        """
        return self._scan(x, state, gates=None)

    def gates(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> dict[str, Tensor]:
        """Per-step activations for plotting: ``{"i", "f", "g", "o", "c", "h"}``, each ``(B, T, H)``.

        The keys are the letters of the class docstring's equations. ``"c"`` is the cell state and ``"h"`` the
        output after each step.
        """
        record: dict[str, list[Tensor]] = {k: [] for k in "ifgoc"}
        output, _ = self._scan(x, state, gates=record)
        return {**{k: torch.stack(v, dim=1) for k, v in record.items()}, "h": output}

    def _scan(self, x: Tensor, state: tuple[Tensor, Tensor] | None,
              gates: dict[str, list[Tensor]] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """The time loop; appends each step's gates to ``gates`` when given."""
        if x.dim() != 3 or x.shape[-1] != self.input_size or x.shape[1] == 0:
            raise NeuralabError(f"GlassBoxLSTM expects input (B, T, {self.input_size}) with T >= 1; got "
                                f"{tuple(x.shape)}")
        B, H = x.shape[0], self.hidden_size
        if state is None:
            h, c = x.new_zeros(B, H), x.new_zeros(B, H)  # (B, H)
        else:
            if any(s.shape != (1, B, H) for s in state):
                raise NeuralabError(f"state must be (h_0, c_0), each (1, B, H) = (1, {B}, {H}); got "
                                    f"{[tuple(s.shape) for s in state]}")
            h, c = state[0][0], state[1][0]  # (B, H): drop the layer axis
        x_proj = x @ self.weight_ih_l0.T + self.bias_ih_l0  # (B, T, 4H): the input terms of every step at once
        outputs = []
        for t in range(x.shape[1]):
            z = x_proj[:, t] + h @ self.weight_hh_l0.T + self.bias_hh_l0  # (B, 4H)
            z_i, z_f, z_g, z_o = z.chunk(4, dim=1)  # (B, H) each, nn.LSTM's gate order
            i, f, g, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g), torch.sigmoid(z_o)
            c = f * c + i * g
            h = o * torch.tanh(c)
            outputs.append(h)
            if gates is not None:
                for key, value in zip("ifgoc", (i, f, g, o, c)):
                    gates[key].append(value)
        return torch.stack(outputs, dim=1), (h.unsqueeze(0), c.unsqueeze(0))  # (B, T, H), ((1, B, H), (1, B, H))
