"""SimpleRNN, LSTM, GRU and Bidirectional layers: gradients, arguments, errors, Keras parity."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

from pyseq import layers, ops
from pyseq.layers import _rnn_numpy

from layer_checks import KERAS_WARNINGS, check_layer_gradients, keras_or_skip, to_numpy

pytestmark = KERAS_WARNINGS

HAS_GRU = hasattr(ops, "gru_forward")
HAS_RNN = hasattr(ops, "rnn_forward")
needs_gru = pytest.mark.skipif(not HAS_GRU, reason="ops.gru_forward has not landed on this branch")
needs_rnn = pytest.mark.skipif(not HAS_RNN, reason="ops.rnn_forward has not landed on this branch")

CELLS = [
    pytest.param(lambda **kw: layers.LSTM(5, **kw), id="lstm"),
    pytest.param(lambda **kw: layers.GRU(5, **kw), id="gru", marks=needs_gru),
    pytest.param(lambda **kw: layers.GRU(5, reset_after=False, **kw), id="gru_v1", marks=needs_gru),
    pytest.param(lambda **kw: layers.SimpleRNN(5, **kw), id="simple_rnn", marks=needs_rnn),
]
N_STATES = {"lstm": 2}


def _data(B=3, T=6, I=4, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    mask = np.ones((B, T), bool)
    mask[1, 4:] = False   # right padding
    mask[2, :2] = False   # left padding
    mask[2, 3] = False    # a hole
    return x, mask


def _randomize(layer, seed=1):
    # Non-zero biases everywhere, so that every bias gradient is exercised.
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])


def _states(layer_id, B=3, H=5, seed=2):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((B, H)) for _ in range(N_STATES.get(layer_id, 1))]


# -- gradients against finite differences --------------------------------------------------------
@pytest.mark.parametrize("make", CELLS)
@pytest.mark.parametrize("opts", [
    dict(),
    dict(return_sequences=True),
    dict(return_sequences=True, go_backwards=True, masked=True),
    dict(go_backwards=True, masked=True, return_state=True, initial=True),
    dict(return_sequences=True, zero_output_for_mask=True, masked=True, return_state=True),
    dict(use_bias=False, initial=True),
    dict(initial=True, masked="empty_row"),
    dict(initial=True, masked="empty_row", go_backwards=True, return_state=True),
], ids=lambda o: "-".join(sorted(o)) or "plain")
def test_gradients(make, opts):
    opts = dict(opts)
    masked, initial = opts.pop("masked", False), opts.pop("initial", False)
    layer = make(dtype="float64", **opts)
    x, mask = _data()
    layer(x)
    _randomize(layer)
    kwargs = {}
    if initial:
        kwargs["initial_state"] = _states("lstm" if isinstance(layer, layers.LSTM) else "")
    if masked == "empty_row":
        mask[0] = False  # a row with no valid step: the output stays zero, the state carries
    d_args, _ = check_layer_gradients(layer, x, mask=mask if masked else None, **kwargs)
    assert ("initial_state" in d_args) == initial


@pytest.mark.parametrize("cell,acts", [
    ("lstm", dict(activation="softsign", recurrent_activation="tanh")),
    ("gru", dict(activation="swish", recurrent_activation="softsign")),
    ("gru_v1", dict(activation="softsign", recurrent_activation="sigmoid")),
    ("simple_rnn", dict(activation="softsign")),
])
def test_numpy_path_gradients(cell, acts):
    # Activations the kernels lack run on the NumPy path, with masks, reverse and states.
    make = {"lstm": lambda **k: layers.LSTM(4, **k), "gru": lambda **k: layers.GRU(4, **k),
            "gru_v1": lambda **k: layers.GRU(4, reset_after=False, **k),
            "simple_rnn": lambda **k: layers.SimpleRNN(4, **k)}[cell]
    layer = make(dtype="float64", return_sequences=True, return_state=True, go_backwards=True,
                 **acts)
    x, mask = _data(I=3)
    layer(x)
    assert not layer._fused()
    _randomize(layer)
    check_layer_gradients(layer, x, mask=mask, initial_state=_states(cell, H=4))


@pytest.mark.parametrize("cell", ["lstm", "gru", "gru_v1", "simple_rnn"])
@pytest.mark.parametrize("zero_output", [False, True])
def test_numpy_path_matches_kernel(cell, zero_output):
    # The NumPy path and the kernel agree on the kernel's own activations (forward and backward),
    # so the fallback has the kernels' semantics (masks, reverse, carried outputs, dropout mask).
    if cell.startswith("gru") and not HAS_GRU or cell == "simple_rnn" and not HAS_RNN:
        pytest.skip(f"the {cell} kernel has not landed on this branch")
    rng = np.random.default_rng(3)
    B, T, I, H = 3, 6, 4, 5
    x, mask = _data(B, T, I)
    G = {"lstm": 4, "gru": 3, "gru_v1": 3, "simple_rnn": 1}[cell]
    W, U = rng.standard_normal((I, G * H)) * 0.5, rng.standard_normal((H, G * H)) * 0.5
    b = rng.standard_normal((2, 3 * H) if cell == "gru" else (G * H,)) * 0.5
    states = [rng.standard_normal((B, H)) for _ in range(2 if cell == "lstm" else 1)]
    rd = (rng.random((B, H)) > 0.3) / 0.7
    opts = dict(mask=mask, reverse=True, zero_output_for_mask=zero_output,
                recurrent_dropout_mask=rd)
    from pyseq import activations
    tanh, sig = activations.get("tanh"), activations.get("sigmoid")
    if cell == "lstm":
        k = ops.lstm_forward(x, W, U, b, *states, **opts)
        n = _rnn_numpy.lstm_forward(x, W, U, b, *states, activation=tanh,
                                    recurrent_activation=sig, **opts)
        douts = [rng.standard_normal(a.shape) for a in k[:3]]
        gk, gn = ops.lstm_backward(*douts, k[-1]), _rnn_numpy.lstm_backward(*douts, n[-1])
    elif cell.startswith("gru"):
        ra = cell == "gru"
        k = ops.gru_forward(x, W, U, b, *states, reset_after=ra, **opts)
        n = _rnn_numpy.gru_forward(x, W, U, b, *states, activation=tanh,
                                   recurrent_activation=sig, reset_after=ra, **opts)
        douts = [rng.standard_normal(a.shape) for a in k[:2]]
        gk, gn = ops.gru_backward(*douts, k[-1]), _rnn_numpy.gru_backward(*douts, n[-1])
    else:
        k = ops.rnn_forward(x, W, U, b, *states, activation="tanh", **opts)
        n = _rnn_numpy.rnn_forward(x, W, U, b, *states, activation=tanh, **opts)
        douts = [rng.standard_normal(a.shape) for a in k[:2]]
        gk, gn = ops.rnn_backward(*douts, k[-1]), _rnn_numpy.rnn_backward(*douts, n[-1])
    for a, c in zip(list(k[:-1]) + list(gk), list(n[:-1]) + list(gn)):
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_gradients(merge_mode, return_sequences):
    layer = layers.Bidirectional(layers.LSTM(4, return_sequences=return_sequences,
                                             return_state=True, dtype="float64"),
                                 merge_mode=merge_mode)
    x, mask = _data(I=3)
    layer(x)
    _randomize(layer)
    states = _states("lstm", H=4) + _states("lstm", H=4, seed=5)
    d_args, _ = check_layer_gradients(layer, x, mask=mask, initial_state=states)
    assert len(d_args["initial_state"]) == 4


def test_bidirectional_gradients_plain():
    layer = layers.Bidirectional(layers.LSTM(4, dtype="float64"))
    x, _ = _data(I=3)
    layer(x)
    _randomize(layer)
    check_layer_gradients(layer, x)


# -- arguments ----------------------------------------------------------------------------------
def test_lstm_weights_and_init():
    layer = layers.LSTM(3, unit_forget_bias=True)
    layer(np.zeros((2, 4, 7), "float32"))
    kernel, rec, bias = layer.get_weights()
    assert kernel.shape == (7, 12) and rec.shape == (3, 12) and bias.shape == (12,)
    assert kernel.dtype == np.float32
    np.testing.assert_array_equal(bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(rec @ rec.T, np.eye(3), atol=1e-5)  # orthonormal rows
    limit = np.sqrt(6 / (7 + 12))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.5 * limit
    no_ufb = layers.LSTM(3, unit_forget_bias=False, kernel_initializer="zeros",
                         recurrent_initializer="zeros", bias_initializer="ones")
    no_ufb(np.zeros((2, 4, 7), "float32"))
    k, r, b = no_ufb.get_weights()
    assert not k.any() and not r.any() and (b == 1).all()
    nob = layers.LSTM(3, use_bias=False)
    nob(np.zeros((2, 4, 7), "float32"))
    assert len(nob.get_weights()) == 2 and nob.count_params() == 7 * 12 + 3 * 12


@needs_gru
def test_gru_bias_shapes():
    for reset_after, shape, n in [(True, (2, 9), 2 * 9), (False, (9,), 9)]:
        layer = layers.GRU(3, reset_after=reset_after)
        layer(np.zeros((2, 4, 5), "float32"))
        assert layer.get_weights()[2].shape == shape
        assert layer.count_params() == 5 * 9 + 3 * 9 + n


def test_return_options_and_masks():
    x, mask = _data(dtype="float32")
    layer = layers.LSTM(5, return_sequences=True, return_state=True)
    y, h, c = layer(x, mask=mask)
    assert y.shape == (3, 6, 5) and h.shape == c.shape == (3, 5) and y.dtype == np.float32
    np.testing.assert_array_equal(y[:, -1][[0, 2]], h[[0, 2]])
    assert np.array_equal(y[1, 4], y[1, 3])             # masked steps repeat the output
    assert not y[2, :2].any()                           # zeros before the first valid step
    m = layer.compute_mask(x, mask)
    assert m[0] is not None and m[1:] == [None, None]
    assert layers.LSTM(5).compute_mask(x, mask) is None
    assert layer.compute_output_shape((None, 6, 4)) == [(None, 6, 5), (None, 5), (None, 5)]
    z = layers.LSTM(5, return_sequences=True, zero_output_for_mask=True)
    z(x)
    z.set_weights(layer.get_weights())
    yz = z(x, mask=mask)
    assert not yz[1, 4:].any() and np.allclose(yz[0], y[0])
    back = layers.LSTM(5, return_sequences=True, go_backwards=True)
    back(x)
    back.set_weights(layer.get_weights())
    yb = back(x)
    y_rev = layers.LSTM(5, return_sequences=True)
    y_rev(x)
    y_rev.set_weights(layer.get_weights())
    # go_backwards = running forward on the reversed sequence (Keras's output order)
    np.testing.assert_allclose(yb, y_rev(x[:, ::-1]), rtol=1e-5, atol=1e-6)


def test_dropout_same_mask_every_step():
    x, _ = _data(dtype="float32", T=5)
    layer = layers.LSTM(4, dropout=0.4, seed=7, return_sequences=True)
    ref = layers.LSTM(4, return_sequences=True)
    layer(x)
    ref(x)
    ref.set_weights(layer.get_weights())
    np.testing.assert_array_equal(layer(x), ref(x))      # inference: no dropout
    y = layer(x, training=True)
    keep = np.random.default_rng(7).random((3, 4)) >= 0.4  # the layer's first draw
    np.testing.assert_allclose(y, ref(x * (keep / np.float32(0.6))[:, None, :]), rtol=1e-6)
    assert not np.allclose(layer(x, training=True), y)  # a fresh mask per batch
    again = layers.LSTM(4, dropout=0.4, seed=7, return_sequences=True)
    again(x)
    again.set_weights(layer.get_weights())
    np.testing.assert_array_equal(again(x, training=True), y)  # seeded


def test_dropout_gradient_uses_the_mask():
    x, _ = _data(T=4)
    layer = layers.LSTM(4, dropout=0.5, recurrent_dropout=0.3, seed=3, dtype="float64")
    layer(x)
    out, cache = layer.forward(x, training=True)
    d_args, _ = layer.backward(cache, np.ones_like(out))
    dropped = cache[1] == 0
    assert dropped.any() and not d_args["inputs"][np.broadcast_to(dropped[:, None, :],
                                                                  x.shape)].any()
    ref = layers.LSTM(4, dtype="float64")
    ref(x)
    ref.set_weights(layer.get_weights())
    assert not np.allclose(out, ref(x))  # recurrent dropout changes the result too


def test_recurrent_dropout_alone():
    x, _ = _data(T=4)
    layer = layers.GRU(4, recurrent_dropout=0.5, seed=1) if HAS_GRU else layers.LSTM(
        4, recurrent_dropout=0.5, seed=1)
    layer(x)
    a, b = layer(x, training=True), layer(x, training=False)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(b, layer(x))


def test_stateful():
    x, _ = _data(dtype="float32")
    layer = layers.LSTM(5, stateful=True, return_state=True)
    y1, h1, c1 = layer(x[:, :3])
    y2, _, _ = layer(x[:, 3:])
    full = layers.LSTM(5)
    full(x)
    full.set_weights(layer.get_weights())
    np.testing.assert_allclose(y2, full(x), rtol=1e-5, atol=1e-6)  # states carried over
    np.testing.assert_array_equal(layer.states[0], y2)
    layer.reset_states()
    assert not layer.states[0].any() and not layer.states[1].any()
    np.testing.assert_allclose(layer(x[:, :3])[0], y1, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[LSTM\] is stateful with batch size 3"):
        layer(x[:2])
    assert len(layer.get_weights()) == 3  # states are not weights (Keras)


def test_initial_state_feeds_the_decoder():
    # The encoder-decoder from the issue, wired by hand: the decoder's state gradient reaches
    # the encoder's outputs.
    rng = np.random.default_rng(0)
    enc = layers.LSTM(6, return_state=True, dtype="float64")
    dec = layers.LSTM(6, return_sequences=True, dtype="float64")
    xe, xd = rng.standard_normal((2, 4, 3)), rng.standard_normal((2, 3, 3))
    enc(xe)
    dec(xd)
    (_, h, c), ec = enc.forward(xe)
    y, dc = dec.forward(xd, initial_state=[h, c])
    d_dec, _ = dec.backward(dc, np.ones_like(y))
    d_enc, _ = enc.backward(ec, [None] + d_dec["initial_state"])
    assert np.abs(d_enc["inputs"]).sum() > 0
    # the same through a state that is not the default
    y0 = dec(xd)
    assert not np.allclose(y0, y)


def test_bidirectional_structure():
    inner = layers.LSTM(4, return_sequences=True, return_state=True)
    bi = layers.Bidirectional(inner, merge_mode=None)
    x, mask = _data(dtype="float32", I=3)
    out = bi(x, mask=mask)
    assert len(out) == 2 + 4 and out[0].shape == out[1].shape == (3, 6, 4)
    assert bi.compute_output_shape((None, 6, 3)) == [(None, 6, 4)] * 2 + [(None, 4)] * 4
    assert bi.compute_mask(x, mask)[0] is mask or np.array_equal(bi.compute_mask(x, mask)[0],
                                                                 mask)
    names = [w.name for w in bi.weights]
    assert names[0].startswith("forward_") and names[3].startswith("backward_")
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    custom = layers.Bidirectional(layers.LSTM(4), backward_layer=layers.LSTM(
        4, go_backwards=True, activation="softsign"))
    custom(x)
    assert custom.backward_layer.activation.name == "softsign"
    assert custom.count_params() == 2 * (3 * 16 + 4 * 16 + 16)
    sums = layers.Bidirectional(layers.LSTM(4, return_sequences=True), merge_mode="sum")
    concat = layers.Bidirectional(layers.LSTM(4, return_sequences=True))
    sums(x)
    concat(x)
    concat.set_weights(sums.get_weights())
    c = concat(x)
    np.testing.assert_allclose(sums(x), c[..., :4] + c[..., 4:], rtol=1e-6)
    given = layers.Bidirectional(layers.LSTM(4), weights=sums.get_weights())
    np.testing.assert_array_equal(given(x), layers.Bidirectional(layers.LSTM(4), weights=[
        w for w in sums.get_weights()])(x))
    for a, b in zip(given.get_weights(), sums.get_weights()):
        np.testing.assert_array_equal(a, b)
    stateful = layers.Bidirectional(layers.LSTM(4, stateful=True))
    stateful(x)
    assert len(stateful.states) == 4
    stateful.reset_states()
    assert not any(s.any() for s in stateful.states)


# -- errors -------------------------------------------------------------------------------------
def test_bad_arguments():
    with pytest.raises(ValueError, match=r"\[LSTM\] units must be a positive integer"):
        layers.LSTM(0)
    with pytest.raises(ValueError, match=r"\[GRU\].*unknown activation 'nope'"):
        layers.GRU(3, activation="nope")
    with pytest.raises(ValueError, match=r"\[SimpleRNN\] dropout must be in \[0, 1\)"):
        layers.SimpleRNN(3, dropout=1.5)
    with pytest.raises(ValueError, match=r"\[LSTM\] expects inputs of rank 3"):
        layers.LSTM(3)(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match=r"\[Bidirectional\] merge_mode must be one of"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match=r"\[Bidirectional\] layer must be"):
        layers.Bidirectional("lstm")
    with pytest.raises(ValueError, match=r"different go_backwards"):
        layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(3))
    for rnn in (layers.LSTM, layers.GRU, layers.SimpleRNN):  # as Keras 3: the copy runs backwards too
        with pytest.raises(ValueError, match=r"\[Bidirectional\] .*different go_backwards, both have True"):
            layers.Bidirectional(rnn(3, go_backwards=True))
    layers.Bidirectional(layers.LSTM(3, go_backwards=True), backward_layer=layers.LSTM(3))
    with pytest.raises(ValueError, match=r"\[LSTM\] stateful=True needs a fixed batch size"):
        layers.LSTM(3, stateful=True).build((None, 4, 2))
    with pytest.raises(ValueError, match=r"\[GRU\] kernel_regularizer: .*unknown regularizer"):
        layers.GRU(3, kernel_regularizer="l3")
    with pytest.raises(TypeError, match=r"\[LSTM\] unexpected argument\(s\): colour"):
        layers.LSTM(3, colour="red")
    layers.LSTM(3, kernel_regularizer=None, use_cudnn="auto")  # Keras's spelled-out defaults
    lstm = layers.LSTM(3)
    lstm(np.zeros((2, 4, 5), "float32"))
    with pytest.raises(ValueError, match=r"\[LSTM\] was built for 5 input features"):
        lstm(np.zeros((2, 4, 6), "float32"))
    with pytest.raises(ValueError, match=r"\[Bidirectional\] initial_state must be a list of the "
                                         r"forward states followed by the backward states, got 3"):
        layers.Bidirectional(layers.LSTM(3))(np.zeros((2, 4, 5), "float32"),
                                             initial_state=[np.zeros((2, 3))] * 3)
    with pytest.raises(ValueError, match=r"\[LSTM\] initial_state must hold 2"):
        lstm(np.zeros((2, 4, 5), "float32"), initial_state=[np.zeros((2, 3))])


# -- Keras parity -------------------------------------------------------------------------------
def _keras_pair(keras, name, **kw):
    k = getattr(keras.layers, name)(**kw)
    p = getattr(layers, name)(**kw)
    return k, p


def _copy(keras_layer, pyseq_layer, x):
    pyseq_layer(x)
    kw = keras_layer.get_weights()
    assert [w.shape for w in kw] == [w.shape for w in pyseq_layer.get_weights()]
    rng = np.random.default_rng(11)
    kw = [w + 0.3 * rng.standard_normal(w.shape).astype(w.dtype) for w in kw]  # non-zero biases
    keras_layer.set_weights(kw)
    pyseq_layer.set_weights(kw)
    assert keras_layer.count_params() == pyseq_layer.count_params()


RNN_CASES = [
    ("LSTM", {}), ("GRU", {}), ("GRU", dict(reset_after=False)), ("SimpleRNN", {}),
    ("SimpleRNN", dict(activation="relu")), ("SimpleRNN", dict(activation=None)),
    ("SimpleRNN", dict(activation="sigmoid", use_bias=False)),
    ("LSTM", dict(activation="softsign")),
    ("GRU", dict(recurrent_activation="hard_sigmoid")),
]


@pytest.mark.parametrize("name,extra", RNN_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_keras_parity_rnn(name, extra, go_backwards, return_sequences):
    keras = keras_or_skip()
    if name == "GRU" and not HAS_GRU or name == "SimpleRNN" and not HAS_RNN:
        pytest.skip(f"the {name} kernel has not landed on this branch")
    x, mask = _data(dtype="float32", I=4)
    kw = dict(units=5, return_sequences=return_sequences, return_state=True,
              go_backwards=go_backwards, **extra)
    k, p = _keras_pair(keras, name, **kw)
    k(x)
    _copy(k, p, x)
    n_states = 2 if name == "LSTM" else 1
    init = [np.random.default_rng(4).standard_normal((3, 5)).astype("float32")
            for _ in range(n_states)]
    empty = mask.copy()
    empty[0] = False
    for m, st in [(None, None), (mask, None), (mask, init), (empty, init)]:
        ko = to_numpy(k(x, mask=m, initial_state=st))
        po = p(x, mask=m, initial_state=st)
        for a, b in zip(ko, po):
            np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_keras_parity_bidirectional(merge_mode, name):
    keras = keras_or_skip()
    if name == "GRU" and not HAS_GRU:
        pytest.skip("the GRU kernel has not landed on this branch")
    x, mask = _data(dtype="float32", I=4)
    for rs in (False, True):
        k = keras.layers.Bidirectional(getattr(keras.layers, name)(5, return_sequences=rs,
                                                                  return_state=True),
                                       merge_mode=merge_mode)
        p = layers.Bidirectional(getattr(layers, name)(5, return_sequences=rs, return_state=True),
                                 merge_mode=merge_mode)
        k(x)
        _copy(k, p, x)
        n = 4 if name == "LSTM" else 2
        init = [np.random.default_rng(i).standard_normal((3, 5)).astype("float32")
                for i in range(n)]
        for m, st in ((None, None), (mask, None), (mask, init)):
            ko, po = to_numpy(k(x, mask=m, initial_state=st)), p(x, mask=m, initial_state=st)
            assert len(ko) == len(po)
            for a, b in zip(ko, po):
                np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)


@needs_gru
@needs_rnn
def test_keras_parity_parameter_counts():
    keras = keras_or_skip()
    x = np.zeros((2, 7, 32), "float32")
    for kw in [dict(units=32), dict(units=8, use_bias=False)]:
        for name in ("SimpleRNN", "LSTM", "GRU"):
            k, p = _keras_pair(keras, name, **kw)
            k(x)
            p(x)
            assert k.count_params() == p.count_params(), (name, kw)
    # Embedding(1000, 32) -> SimpleRNN(32, return_sequences=True) -> SimpleRNN(32) -> Dense(1)
    a, b = layers.SimpleRNN(32, return_sequences=True), layers.SimpleRNN(32)
    b(a(x))
    assert 1000 * 32 + a.count_params() + b.count_params() + 33 == 36193
    bi = layers.Bidirectional(layers.LSTM(64))
    bi(x)
    kb = keras.layers.Bidirectional(keras.layers.LSTM(64))
    kb(x)
    assert bi.count_params() == kb.count_params() == 2 * 4 * 64 * (32 + 64 + 1)


# -- property test: the kernel path against the layer's own NumPy path ------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=100)
@given(cell=st.sampled_from(["lstm", "gru", "gru_v1", "simple_rnn"]),
       B=st.sampled_from([1, 2, 5]), T=st.sampled_from([1, 2, 7]), I=st.sampled_from([1, 3, 8]),
       H=st.sampled_from([1, 4, 9]), go_backwards=st.booleans(), return_sequences=st.booleans(),
       use_bias=st.booleans(), masked=st.booleans(), initial=st.booleans(),
       zero_output=st.booleans(), seed=st.integers(0, 2**16))
def test_kernel_path_matches_numpy_path(cell, B, T, I, H, go_backwards, return_sequences,
                                        use_bias, masked, initial, zero_output, seed):
    make = {"lstm": layers.LSTM, "gru": layers.GRU,
            "gru_v1": lambda *a, **k: layers.GRU(*a, reset_after=False, **k),
            "simple_rnn": layers.SimpleRNN}[cell]
    kw = dict(go_backwards=go_backwards, return_sequences=return_sequences, use_bias=use_bias,
              return_state=True, zero_output_for_mask=zero_output, dtype="float64")
    fused, numpy_path = make(H, **kw), make(H, **kw)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I))
    fused(x)
    numpy_path(x)
    _randomize(fused, seed)
    numpy_path.set_weights(fused.get_weights())
    numpy_path._fused = lambda: False  # the same layer, routed through _rnn_numpy
    mask = rng.random((B, T)) > 0.3 if masked else None
    n_states = 2 if cell == "lstm" else 1
    init = [rng.standard_normal((B, H)) for _ in range(n_states)] if initial else None
    outs = []
    for layer in (fused, numpy_path):
        out, cache = layer.forward(x, mask=mask, initial_state=init)
        d_out = [np.random.default_rng(seed + 1).standard_normal(o.shape) for o in out]
        d_args, grads = layer.backward(cache, d_out)
        outs.append(list(out) + [d_args["inputs"]] + list(d_args.get("initial_state", []))
                    + [g for _, g in grads])
    assert len(outs[0]) == len(outs[1])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
