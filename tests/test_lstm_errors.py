"""Bad input specific to pyseq.ops.lstm_forward: its message texts. The checks every recurrent
family shares (c0 and dc_T included) are in test_rnn_family_errors.py."""

import numpy as np

from rnn_error_cases import LSTM, H


def test_forward_recurrent_kernel_message_names_expected_and_got():
    inputs = LSTM.valid_inputs()
    inputs["recurrent_kernel"] = np.zeros((H, 4 * H - 1))
    msg = LSTM.expect_forward_error(inputs, ValueError)
    assert "recurrent_kernel" in msg and str((H, 4 * H - 1)) in msg, msg
