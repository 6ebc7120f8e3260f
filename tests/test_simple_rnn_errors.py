"""Bad input specific to pyseq.ops.rnn_forward (SimpleRNN): its activation option and its message
texts. The checks every recurrent family shares are in test_rnn_family_errors.py."""

import numpy as np
import pytest

from pyseq import ops

from rnn_error_cases import RNN, B, H, I, T


def test_valid_inputs_are_accepted_with_every_activation():
    """The baseline every error case starts from is valid whatever the activation."""
    for dtype in (np.float32, np.float64):
        for activation in ("tanh", "relu", "sigmoid", "linear", None):
            y, h, saved = RNN.call_forward(RNN.valid_inputs(dtype), activation=activation)
            assert y.shape == (B, T, H) and h.shape == (B, H)
            ops.rnn_backward(None, None, saved)


@pytest.mark.parametrize("bad", ["gelu", "Tanh", "softmax", "", "tanh "])
def test_forward_unknown_activation_lists_the_allowed_ones(bad):
    msg = RNN.expect_forward_error(RNN.valid_inputs(), ValueError, activation=bad)
    for name in ("'tanh'", "'relu'", "'sigmoid'", "'linear'", "None"):
        assert name in msg, msg
    assert repr(bad) in msg, msg


@pytest.mark.parametrize("bad", [1, 1.5, True, np.tanh, b"tanh", ["tanh"]], ids=repr)
def test_forward_activation_not_a_string(bad):
    msg = RNN.expect_forward_error(RNN.valid_inputs(), TypeError, activation=bad)
    assert "activation" in msg, msg


def test_forward_recurrent_kernel_message_names_expected_and_got():
    inputs = RNN.valid_inputs()
    inputs["recurrent_kernel"] = np.zeros((H, H - 1))
    msg = RNN.expect_forward_error(inputs, ValueError)
    assert "recurrent_kernel must be (H, H) = (5, 5)" in msg and str((H, H - 1)) in msg, msg


def test_forward_kernel_message_names_expected_and_got():
    inputs = RNN.valid_inputs()
    inputs["kernel"] = np.zeros((I, H + 1))
    msg = RNN.expect_forward_error(inputs, ValueError)
    assert "kernel must be (I, H) = (4, 5)" in msg and str((I, H + 1)) in msg, msg
