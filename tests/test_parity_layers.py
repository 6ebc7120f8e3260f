"""Keras 3 parity of the non-recurrent layers where probing found pyseq disagreeing: each case
failed before its fix. Outputs, input and weight gradients, weight layouts, output shapes and
masks go through ``keras_parity`` (torch autograd through Keras's torch backend)."""

import re

import numpy as np
import pytest

from keras_parity import keras_parity
from layer_checks import KERAS_WARNINGS, check_layer_gradients, keras_or_skip, to_numpy
from pyseq import layers

pytestmark = KERAS_WARNINGS
RNG = np.random.default_rng(2026)
DTYPES = ["float32", "float64"]


def randn(*shape, dtype="float64"):
    return RNG.standard_normal(shape).astype(dtype)


# ---- LayerNormalization / RMSNormalization: an axis list mixing signs ----------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis,shape", [([1, -1], (2, 3, 4)), ([-1, 1], (2, 3, 2, 5)),
                                        ([2, -1], (2, 3, 2, 5)), ([1, -2], (2, 3, 4, 2))])
@pytest.mark.parametrize("kwargs", [{}, {"center": False}, {"rms_scaling": True}])
@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")
def test_layer_normalization_weight_layout_follows_keras_axis_order(dtype, axis, shape, kwargs):
    # Keras sorts the axis values as given ([1, -1] -> [-1, 1]) and shapes gamma/beta in that
    # order, (4, 3) for inputs (2, 3, 4); pyseq made them (3, 4), so Keras weights did not load.
    keras_parity("LayerNormalization", dict(axis=axis, **kwargs), randn(*shape, dtype=dtype) + .5)


def test_rms_normalization_weight_layout_follows_keras_axis_order():
    layer = layers.RMSNormalization(axis=[1, -1], dtype="float64")
    x = randn(2, 3, 4)
    layer(x)
    assert layer.scale.shape == (4, 3)   # Keras's shape (Keras 3.15 then fails to broadcast it)
    layer.set_weights([RNG.uniform(0.5, 1.5, (4, 3))])
    y = np.asarray(layer(x))
    scale = layer.scale.value.reshape(1, 3, 4)
    expected = x / np.sqrt(np.mean(x * x, axis=(1, 2), keepdims=True) + 1e-6) * scale
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("make", [lambda: layers.LayerNormalization(axis=[1, -1]),
                                  lambda: layers.RMSNormalization(axis=[-1, 1]),
                                  lambda: layers.BatchNormalization(axis=[0, -2])])
def test_normalization_axis_named_twice_is_a_value_error_naming_the_layer(make):
    layer = make()
    with pytest.raises(ValueError, match=rf"\[{layer.name}\] axis .* names an axis twice"):
        layer(np.zeros((3, 5), np.float32))


# ---- Flatten, ZeroPadding1D: data_format; Cropping1D: nothing left ------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 4, 3), (2, 3, 2, 5), (2, 3), (1, 1, 1)])
def test_flatten_channels_first(dtype, shape):
    layer = layers.Flatten(data_format="channels_first")
    assert layer.get_config()["data_format"] == "channels_first"
    keras_parity("Flatten", {"data_format": "channels_first"}, randn(*shape, dtype=dtype))
    assert layers.Flatten().get_config()["data_format"] == "channels_last"   # as Keras's


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", [0, 2, (1, 3), (0, 2)])
@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
def test_zero_padding1d_data_format(dtype, padding, data_format):
    keras_parity("ZeroPadding1D", {"padding": padding, "data_format": data_format},
                 randn(2, 3, 5, dtype=dtype))
    config = layers.ZeroPadding1D(padding, data_format=data_format).get_config()
    assert config["data_format"] == data_format
    assert layers.ZeroPadding1D.from_config(config).data_format == data_format


def test_zero_padding1d_bad_data_format():
    with pytest.raises(ValueError, match=r"\[zero_padding1d\w*\] data_format must be"):
        layers.ZeroPadding1D(1, data_format="channels_middle")


def test_cropping1d_must_leave_a_step():
    with pytest.raises(ValueError, match=r"\[cropping1d\w*\] cropping \(2, 2\) removes all the 4"):
        layers.Cropping1D((2, 2))(randn(2, 4, 3))
    with pytest.raises(ValueError, match=r"removes all the 4 steps"):
        layers.Cropping1D((1, 3)).compute_output_shape((None, 4, 3))
    assert layers.Cropping1D((1, 2)).compute_output_shape((None, 4, 3)) == (None, 1, 3)


# ---- element-wise merges: ranks, ties, masks ----------------------------------------------

ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]
M1 = np.array([[1, 1, 0, 1], [1, 0, 0, 0]], bool)
M2 = np.array([[1, 0, 1, 1], [0, 1, 0, 0]], bool)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("shapes", [[(2, 4, 3), (2, 3)], [(2, 3), (2, 4, 3)],
                                    [(2, 4, 3), (2, 3), (2, 4, 1)], [(3, 2, 2, 5), (3, 5)]])
def test_merges_expand_lower_rank_inputs_after_the_batch_axis(dtype, name, shapes):
    # Keras inserts the missing axes after the batch axis ((2, 3) -> (2, 1, 3)); pyseq aligned
    # them on the right and refused (2, 4, 3) with (2, 3).
    if name == "Subtract":
        shapes = shapes[:2]
    keras_parity(name, {}, [randn(*s, dtype=dtype) for s in shapes])


def test_merges_still_broadcast_a_constant_without_the_batch_axis():
    a, c = randn(2, 3, 4), randn(3, 4)
    np.testing.assert_array_equal(np.asarray(layers.Add(dtype="float64")([a, c])), a + c)
    check_layer_gradients(layers.Maximum(dtype="float64"), [a, c])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["Maximum", "Minimum"])
@pytest.mark.parametrize("n", [2, 3])
def test_maximum_minimum_ties_split_the_gradient_as_keras(dtype, name, n):
    # torch.maximum gives each side of a tie half the gradient, pairwise (1/4, 1/4, 1/2 for
    # three equal inputs); pyseq gave it all to the first input.
    x = randn(2, 4, 3, dtype=dtype)
    other = x.copy()
    other[:, 1] += 1
    xs = [x, x.copy(), other][:n] if n == 3 else [x, x.copy()]
    keras_parity(name, {}, xs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["Maximum", "Minimum", "Multiply", "Add", "Average"])
@pytest.mark.parametrize("masks", [[M1, M2], [M1, None], [None, M2], [M1, M2, None],
                                   [M1, M2, M1 & M2]], ids=["both", "first", "second",
                                                            "two-of-three", "three"])
def test_masked_merges_follow_keras(dtype, name, masks):
    # Keras's Maximum/Minimum give a masked entry the running result's value and Multiply
    # counts it as 1 (zeroing what every input masks); pyseq merged the raw values.
    xs = [randn(2, 4, 3, dtype=dtype) for _ in masks]
    keras_parity(name, {}, xs, masks=masks)


def test_masked_merges_fit_the_masks_to_the_inputs():
    layer = layers.Maximum()
    with pytest.raises(ValueError, match=r"\[maximum\w*\] \(Maximum\) a mask of shape \(2, 5\)"):
        layer([randn(2, 4, 3), randn(2, 4, 3)], mask=[np.ones((2, 5), bool), None])


# ---- activation layers: the slopes at the kinks; PReLU's regularizer and constraint --------

KINKS = np.array([0.0, 0.5, 1.0, 2.0, 6.0, -0.5, -1.0, 3.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs", [
    ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.1}), ("ReLU", {"negative_slope": 0.1}),
    ("ReLU", {"max_value": 1.0}), ("ReLU", {"max_value": 6.0}), ("ReLU", {"threshold": 0.5}),
    ("ReLU", {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5}),
    ("PReLU", {}), ("PReLU", {"shared_axes": [1]})])
def test_activation_layer_slopes_at_the_kinks_follow_keras(dtype, name, kwargs):
    # Keras on torch: leaky_relu's slope at 0 is negative_slope, PReLU (relu(x) - a relu(-x))
    # has none at 0, clipping to max_value passes the gradient at max_value; pyseq differed at
    # those exact inputs (zero-padded steps make 0 common).
    x = np.stack([KINKS, -KINKS, KINKS[::-1]])[None].repeat(2, 0).astype(dtype)
    keras_parity(name, kwargs, x)


def test_prelu_takes_a_regularizer_and_a_constraint():
    layer = layers.PReLU(alpha_regularizer="l2", alpha_constraint="non_neg",
                         alpha_initializer="ones")
    layer(randn(2, 3, 4, dtype="float32"))
    assert layer.alpha.regularizer is not None and layer.alpha.constraint is not None
    assert len(layer.losses) == 1
    config = layer.get_config()
    assert config["alpha_regularizer"]["class_name"] == "L2"
    assert layers.PReLU.from_config(config).alpha_constraint is not None
    with pytest.raises(ValueError, match=r"\[PReLU\] alpha_regularizer"):
        layers.PReLU(alpha_regularizer="l3")


# ---- pyseq.activations: Keras's parameters and names ----------------------------------------

ACTIVATION_PARAMS = [
    ("relu", {"negative_slope": 0.1}), ("relu", {"max_value": 2.0}), ("relu", {"threshold": 0.5}),
    ("relu", {"negative_slope": 0.1, "max_value": 2.0, "threshold": 0.5}),
    ("relu", {"max_value": 6}), ("softmax", {"axis": 0}), ("softmax", {"axis": (0, 1)}),
    ("log_softmax", {"axis": 0}), ("elu", {"alpha": 0.5}), ("celu", {"alpha": 2.0}),
    ("gelu", {"approximate": True}), ("gelu", {"approximate": False}),
    ("leaky_relu", {"negative_slope": 0.05}), ("hard_shrink", {"threshold": 1.0}),
    ("soft_shrink", {"threshold": 1.0}), ("squareplus", {"b": 1.0}), ("glu", {}),
    ("glu", {"axis": 1}), ("threshold", {"threshold": 0.5, "default_value": -1.0}),
    ("sparse_sigmoid", {}), ("silu", {}), ("hard_swish", {}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs", ACTIVATION_PARAMS,
                         ids=[f"{n}-{'-'.join(map(str, k.values()))}" for n, k in
                              ACTIVATION_PARAMS])
def test_activation_functions_take_keras_parameters(dtype, name, kwargs):
    keras = keras_or_skip()
    import torch

    from pyseq import activations
    x = (2.5 * RNG.standard_normal((4, 6))).astype(dtype)
    x[0, :4] = [0.0, 0.5, 1.0, -1.0]
    expected = to_numpy(getattr(keras.activations, name)(torch.tensor(x), **kwargs))
    got = getattr(activations, name)(x, **kwargs)
    assert got.dtype == expected.dtype
    tol = 2e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def test_sparse_sigmoid_is_a_layer_activation_and_silu_keeps_keras_name():
    x = randn(2, 4, 3)
    keras_parity("Activation", {"activation": "sparse_sigmoid"}, x)
    keras_parity("Dense", {"units": 2, "activation": "sparse_sigmoid"}, x)
    for name in ("swish", "silu"):
        assert layers.Activation(name).get_config()["activation"] == "silu"   # Keras's name


def test_sparsemax_is_the_projection_onto_the_simplex():
    # Keras 3.15 gets it wrong with two or more positive entries (keras-team/keras#23425);
    # pyseq keeps the definition: tau = (sum of the k largest - 1) / k over the support.
    from pyseq import activations
    x = np.array([[0.0, 0.5, 1.0], [0.1, 0.2, 0.3], [5.0, 0.0, -1.0]])
    expected = [[0, 0.25, 0.75], [0.1 + 0.4 / 3, 0.2 + 0.4 / 3, 0.3 + 0.4 / 3], [1, 0, 0]]
    np.testing.assert_allclose(activations.sparsemax(x), expected, atol=1e-12)
    np.testing.assert_allclose(activations.sparsemax(x.T, axis=0), np.transpose(expected),
                               atol=1e-12)


# ---- bad inputs to a layer that is already built: ValueError/TypeError naming the layer -----

X3 = RNG.standard_normal((2, 5, 4)).astype(np.float32)
BUILT = {
    "Conv1D": (lambda: layers.Conv1D(2, 3), X3),
    "Conv1DTranspose": (lambda: layers.Conv1DTranspose(2, 3), X3),
    "SeparableConv1D": (lambda: layers.SeparableConv1D(2, 3), X3),
    "MaxPooling1D": (lambda: layers.MaxPooling1D(2), X3),
    "GlobalAveragePooling1D": (lambda: layers.GlobalAveragePooling1D(), X3),
    "Dense": (lambda: layers.Dense(3), X3),
    "LayerNormalization": (lambda: layers.LayerNormalization(), X3),
    "BatchNormalization": (lambda: layers.BatchNormalization(), X3),
    "RMSNormalization": (lambda: layers.RMSNormalization(), X3),
    "Flatten": (lambda: layers.Flatten(), X3),
    "Reshape": (lambda: layers.Reshape((20,)), X3),
    "RepeatVector": (lambda: layers.RepeatVector(2), X3[:, 0]),
    "PReLU": (lambda: layers.PReLU(), X3),
    "Softmax": (lambda: layers.Softmax(), X3),
    "GaussianNoise": (lambda: layers.GaussianNoise(0.1), X3),
    "Add": (lambda: layers.Add(), [X3, X3]),
    "Maximum": (lambda: layers.Maximum(), [X3, X3]),
    "Concatenate": (lambda: layers.Concatenate(), [X3, X3]),
    "Dot": (lambda: layers.Dot(axes=-1), [X3, X3]),
}
BAD = {
    "strings": np.array([["a", "b"], ["c", "d"]]), "dict": {"a": X3}, "scalar": np.float32(1.0),
    "rank1": np.ones(5, np.float32), "rank4": np.ones((2, 5, 4, 1), np.float32),
    "empty_batch": np.zeros((0, 5, 4), np.float32), "complex": X3 + 1j,
}


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("name", sorted(BUILT))
def test_bad_inputs_to_a_built_layer_name_it(name, bad):
    # a built layer skips the build-time checks: its forward must still refuse what it cannot
    # take with a ValueError/TypeError naming it (or the op it calls), never an IndexError,
    # a ZeroDivisionError, or NumPy's own message (some of these inputs are fine: no error)
    make, good = BUILT[name]
    layer = make()
    layer(good)
    x = BAD[bad]
    if isinstance(good, list) and bad != "dict":
        x = [X3, x]
    try:
        layer(x)
    except (ValueError, TypeError) as e:
        named = re.match(r"\[([\w.]+)\]", str(e))
        assert named, str(e)
        assert named.group(1) in (layer.name, name) or named.group(1).endswith("_forward"), e


# ---- get_config lists Keras's keys with Keras's values ----------------------------------------

CONFIG_LAYERS = [
    ("Dense", {"units": 3}), ("Embedding", {"input_dim": 5, "output_dim": 2}),
    ("BatchNormalization", {"axis": 1}), ("Flatten", {}), ("ZeroPadding1D", {"padding": 2}),
    ("PReLU", {"shared_axes": [1]}), ("Conv1D", {"filters": 2, "kernel_size": 3}),
    ("LayerNormalization", {"epsilon": 0.1}), ("GroupNormalization", {"groups": 2}),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3}), ("MaxPooling1D", {}),
    ("SeparableConv1D", {"filters": 2, "kernel_size": 3}), ("Dropout", {"rate": 0.2}),
]


@pytest.mark.parametrize("name,kwargs", CONFIG_LAYERS, ids=[c[0] for c in CONFIG_LAYERS])
def test_configs_list_keras_keys(name, kwargs):
    # Dense and Embedding lacked quantization_config, BatchNormalization renorm and
    # synchronized, Flatten/ZeroPadding1D data_format, PReLU its regularizer and constraint
    keras = keras_or_skip()
    theirs = getattr(keras.layers, name)(**kwargs).get_config()
    ours = getattr(layers, name)(**kwargs).get_config()
    missing = set(theirs) - set(ours) - {"name", "dtype", "trainable"}
    assert not missing, missing
    assert set(ours) - set(theirs) <= {"trainable"}
    for key, value in theirs.items():
        if key in ("name", "dtype") or isinstance(value, dict):
            continue
        mine = ours[key]
        same = list(mine) == list(value) if isinstance(value, (list, tuple)) else mine == value
        assert same, (key, mine, value)
    getattr(layers, name).from_config(ours)


@pytest.mark.parametrize("name,kwargs", [("LayerNormalization", {}),
                                         ("LayerNormalization", {"axis": [2, -2]}),
                                         ("RMSNormalization", {"axis": [2, 1]}),
                                         ("SpatialDropout1D", {"rate": 0.3})])
def test_built_configs_match_keras(name, kwargs):
    # a built Keras LayerNormalization/RMSNormalization configures its axis as a sorted list;
    # SpatialDropout1D's config has no 'trainable'
    keras = keras_or_skip()
    x = randn(2, 3, 4, dtype="float32")
    k = getattr(keras.layers, name)(**kwargs)
    p = getattr(layers, name)(**kwargs)
    k(x)
    p(x)
    theirs, ours = k.get_config(), p.get_config()
    assert set(ours) == set(theirs)
    for key in set(theirs) - {"name", "dtype"}:
        if not isinstance(theirs[key], dict):   # initializers: serialized differently
            assert ours[key] == theirs[key], key
    clone = getattr(layers, name).from_config(ours)
    clone(x)
    clone.set_weights(p.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(p(x)))


def test_dropout_rate_one_drops_everything_in_training():
    # Keras's Dropout and SpatialDropout1D take rate=1 (zeros in training); pyseq refused it
    x = np.ones((2, 3, 4), np.float32)
    for layer in (layers.Dropout(1.0), layers.SpatialDropout1D(1)):
        np.testing.assert_array_equal(np.asarray(layer(x)), x)
        y, cache = layer.forward(x, training=True)
        assert not np.asarray(y).any()
        d_args, _ = layer.backward(cache, np.ones_like(x))
        assert not d_args["inputs"].any()
    with pytest.raises(ValueError, match=r"\[gaussian_dropout\w*\] rate must be a number in \[0, 1\)"):
        layers.GaussianDropout(1.0)


@pytest.mark.parametrize("cls", [layers.LayerNormalization, layers.RMSNormalization,
                                 layers.UnitNormalization, layers.BatchNormalization])
def test_normalization_axis_must_be_ints(cls):
    with pytest.raises(TypeError, match=r"\[\w+\] axis must be an int or a list of ints"):
        cls(axis="a")


# ---- convolutions with channels_first: the activation's axis ---------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["softmax", "log_softmax", "tanh"])
@pytest.mark.parametrize("name,kwargs", [
    ("Conv1D", {"filters": 4, "kernel_size": 2}), ("Conv1DTranspose", {"filters": 3, "kernel_size": 2}),
    ("DepthwiseConv1D", {"kernel_size": 2, "depth_multiplier": 2}),
    ("SeparableConv1D", {"filters": 4, "kernel_size": 2})])
def test_channels_first_convolution_activations_see_keras_layout(dtype, activation, name, kwargs):
    # Keras applies the activation to the channels_first output, so softmax runs over its last
    # axis (the steps); pyseq applied it over the channels before transposing back.
    keras_parity(name, dict(kwargs, data_format="channels_first", activation=activation),
                 randn(2, 3, 5, dtype=dtype))


def test_layer_normalization_positional_arguments_are_keras_order():
    # Keras: (axis, epsilon, center, scale, beta_initializer, gamma_initializer, ...); pyseq
    # had rms_scaling fifth, so a positional beta_initializer turned rms_scaling on
    layer = layers.LayerNormalization(-1, 1e-3, True, True, "ones", "zeros")
    assert not layer.rms_scaling
    layer(np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(layer.beta.value, 1)
    np.testing.assert_array_equal(layer.gamma.value, 0)


def test_dropout_noise_shape_must_broadcast_to_the_inputs():
    x = np.ones((2, 5, 4), np.float32)
    with pytest.raises(ValueError, match=r"\[dropout\w*\] noise_shape \(None, 2, 4\) must broadcast"):
        layers.Dropout(0.5, noise_shape=(None, 2, 4))(x, training=True)
    y = np.asarray(layers.Dropout(0.5, noise_shape=(2, 1, 4), seed=0)(x, training=True))
    assert np.all((y == y[:, :1]))                                  # one draw along the steps


def test_embedding_positional_arguments_are_keras_order():
    # Keras: (input_dim, output_dim, embeddings_initializer, embeddings_regularizer,
    # embeddings_constraint, mask_zero); pyseq took mask_zero fourth
    layer = layers.Embedding(10, 3, "ones", None, None, True)
    assert layer.mask_zero
    layer = layers.Embedding(10, 3, "ones", "l2", "non_neg")
    assert not layer.mask_zero
    layer(np.array([[1, 2]]))
    assert layer.embeddings.regularizer is not None and layer.embeddings.constraint is not None
