"""Bad input common to every recurrent op pair (rnn_*, gru_* in both bias layouts, lstm_*): the right
exception, a message that names the op and says what it got, and no input modified. The cases are
described once in rnn_error_cases.py; what only one family has stays in its test_<family>_errors.py."""

import numpy as np
import pytest

from rnn_error_cases import LSTM, RNN, B, FAMILIES, H, I, T, over_families, wrong_shapes, zero_size_cases

FAMILY = pytest.mark.parametrize("family", FAMILIES, ids=[f.id for f in FAMILIES])
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])
rng0 = np.random.default_rng(1)


@FAMILY
@DTYPES
def test_valid_inputs_are_accepted(family, dtype):
    """The baseline every error case below starts from is itself valid."""
    *outputs, saved = family.call_forward(family.valid_inputs(dtype))
    assert outputs[0].shape == (B, T, H)
    assert all(state.shape == (B, H) for state in outputs[1:]), [s.shape for s in outputs]
    assert len(outputs) == 1 + len(family.states)
    family.backward(*(None for _ in family.upstream), saved)


# ------------------------------------------------------------------------------------------------
# forward: ndim, shapes and sizes of zero
# ------------------------------------------------------------------------------------------------


@DTYPES
@over_families("name,shape", wrong_shapes)
def test_forward_wrong_ndim_or_shape(family, name, shape, dtype):
    inputs = family.valid_inputs(dtype)
    if name == "mask":
        inputs[name] = np.ones(shape, dtype=bool)
    else:
        inputs[name] = np.asarray(rng0.standard_normal(shape), dtype=dtype)
    family.expect_forward_error(inputs, ValueError)


@DTYPES
@pytest.mark.parametrize("with_optional", [True, False], ids=["all_inputs", "optional_none"])
@over_families("case", lambda fam: list(zero_size_cases(fam)))
def test_forward_zero_sizes_are_rejected(family, case, with_optional, dtype):
    inputs = family.valid_inputs(dtype)
    for name, shape in zero_size_cases(family)[case].items():
        inputs[name] = np.ones(shape, dtype=bool) if name == "mask" else np.zeros(shape, dtype=dtype)
    if not with_optional:
        for name in family.optional_inputs:
            inputs[name] = None
    family.expect_forward_error(inputs, ValueError)


# ------------------------------------------------------------------------------------------------
# forward: dtypes and types
# ------------------------------------------------------------------------------------------------

BAD_FLOAT_DTYPES = [np.int32, np.int64, np.complex128, np.float16, np.bool_, np.complex64, np.uint8]


@pytest.mark.parametrize("bad", BAD_FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
@over_families("name", lambda fam: fam.float_inputs)
def test_forward_float_input_bad_dtype(family, name, bad):
    inputs = family.valid_inputs()
    inputs[name] = (inputs[name] > 0).astype(bad)
    family.expect_forward_error(inputs, TypeError)


@pytest.mark.parametrize("x_dtype,other_dtype", [(np.float32, np.float64), (np.float64, np.float32)],
                         ids=["x32-other64", "x64-other32"])
@over_families("name", lambda fam: fam.float_inputs[1:])
def test_forward_mixed_float_dtypes(family, name, x_dtype, other_dtype):
    inputs = family.valid_inputs(x_dtype)
    inputs[name] = inputs[name].astype(other_dtype)
    msg = family.expect_forward_error(inputs, TypeError)
    assert name in msg and np.dtype(other_dtype).name in msg, msg


@FAMILY
@pytest.mark.parametrize("bad", [np.float64, np.float32, np.int64, np.int8, np.uint8], ids=lambda d: np.dtype(d).name)
def test_forward_mask_not_bool(family, bad):
    inputs = family.valid_inputs()
    inputs["mask"] = inputs["mask"].astype(bad)
    family.expect_forward_error(inputs, TypeError)


JUNK = {"string": "not an array", "None": None, "dict": {"x": 1},
        "object_array": np.empty((B, T, I), dtype=object)}


@FAMILY
@pytest.mark.parametrize("junk", list(JUNK))
def test_forward_x_junk(family, junk):
    inputs = family.valid_inputs()
    inputs["x"] = JUNK[junk]
    family.expect_forward_error(inputs, TypeError)


@pytest.mark.parametrize("junk", ["string", "None", "object_array"])
@over_families("name", lambda fam: ("kernel", "recurrent_kernel"))
def test_forward_weight_junk(family, name, junk):
    inputs = family.valid_inputs()
    inputs[name] = np.empty(inputs[name].shape, dtype=object) if junk == "object_array" else JUNK[junk]
    family.expect_forward_error(inputs, TypeError)


@over_families("name", lambda fam: fam.optional_inputs)
def test_forward_optional_input_junk(family, name):
    inputs = family.valid_inputs()
    inputs[name] = "not an array"
    family.expect_forward_error(inputs, TypeError)


@pytest.mark.parametrize("bad", ["yes", 1, 0, None, np.array([True])], ids=repr)
@over_families("flag", lambda fam: fam.flags)
def test_forward_option_flags_must_be_bool(family, flag, bad):
    inputs = family.valid_inputs()
    with pytest.raises(TypeError, match=rf"^\[{family.op}_forward\] {flag} must be a bool, got"):
        family.call_forward(inputs, **{flag: bad})
    # numpy's bool scalar is a bool (the family's own setting, so that the bias layout still fits)
    family.call_forward(inputs, **{flag: np.bool_(family.options.get(flag, True))})


@FAMILY
def test_forward_options_are_keyword_only(family):
    inputs = family.valid_inputs()
    with pytest.raises(TypeError):
        family.forward(*(inputs[k] for k in family.positional), True)


# ------------------------------------------------------------------------------------------------
# backward
# ------------------------------------------------------------------------------------------------


def other_family_saved(family):
    """A genuine saved object, but from another op pair (LSTM's, or SimpleRNN's for LSTM)."""
    other = LSTM if family is not LSTM else RNN
    return other.call_forward(other.valid_inputs())[-1]


BAD_SAVED = {"None": lambda y: None, "dict": lambda y: {"x": y}, "pair": lambda y: (y, y),
             "triple": lambda y: (y, y, y), "empty_tuple": lambda y: (), "string": lambda y: "saved",
             "array": lambda y: np.zeros(10), "y": lambda y: y, "object": lambda y: object()}


@FAMILY
@pytest.mark.parametrize("bad_saved", list(BAD_SAVED) + ["other_family_saved"])
def test_backward_saved_not_from_forward(family, bad_saved):
    y, saved, up = family.forward_for_backward()
    bad = other_family_saved(family) if bad_saved == "other_family_saved" else BAD_SAVED[bad_saved](y)
    family.expect_backward_error(up, bad, TypeError)


def upstream_wrong_shapes(fam):
    shapes = {"dy": [(B, T, H + 1), (B, T + 1, H), (B + 1, T, H), (B, T), (B, T, H, 1), (T, B, H)]}
    for name in fam.upstream[1:]:
        shapes[name] = [(B, H + 1), (B + 1, H), (H,), (1, B, H), (H, B)]
    return [(name, shape) for name, cases in shapes.items() for shape in cases]


@DTYPES
@over_families("name,shape", upstream_wrong_shapes)
def test_backward_upstream_wrong_shape(family, name, shape, dtype):
    _, saved, up = family.forward_for_backward(dtype)
    up[name] = np.ones(shape, dtype=dtype)
    family.expect_backward_error(up, saved, ValueError)


@pytest.mark.parametrize("forward_dtype,bad", [(np.float64, np.float32), (np.float32, np.float64),
                                               (np.float64, np.float16), (np.float64, np.int64),
                                               (np.float64, np.complex128), (np.float32, np.bool_)],
                         ids=lambda d: np.dtype(d).name)
@over_families("name", lambda fam: fam.upstream)
def test_backward_upstream_wrong_dtype(family, name, forward_dtype, bad):
    _, saved, up = family.forward_for_backward(forward_dtype)
    up[name] = up[name].astype(bad)
    family.expect_backward_error(up, saved, TypeError)


@over_families("name", lambda fam: fam.upstream)
def test_backward_upstream_junk(family, name):
    _, saved, up = family.forward_for_backward()
    up[name] = "not an array"
    family.expect_backward_error(up, saved, TypeError)


@FAMILY
def test_failed_backward_leaves_saved_usable(family):
    """Errors in backward do not consume or corrupt saved."""
    _, saved, up = family.forward_for_backward()
    good = family.call_backward(up, saved)
    for bad in (dict(up, dy=up["dy"][:, :, :-1]), dict(up, dh_T=up["dh_T"].astype(np.float32))):
        with pytest.raises((ValueError, TypeError), match=family.backward_msg):
            family.call_backward(bad, saved)
    again = family.call_backward(up, saved)
    for a, b in zip(good, again):
        np.testing.assert_array_equal(a, b)
