"""Bad input specific to pyseq.ops.gru_forward: the bias layout that reset_after selects and the
message texts. The checks every recurrent family shares (in both reset_after layouts) are in
test_rnn_family_errors.py."""

import numpy as np
import pytest

from rnn_error_cases import GRU, GRU_RESET_BEFORE, H

RESET_AFTER = pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
# bias: each form's shape is wrong for the other form
WRONG_BIAS = {
    True: [(3 * H,), (1, 3 * H), (2, 3 * H + 1), (3, 3 * H), (3 * H, 2), (6 * H,), ()],
    False: [(2, 3 * H), (1, 3 * H), (3 * H + 1,), (3 * H - 1,), (H,), (4 * H,), ()],
}


@RESET_AFTER
@pytest.mark.parametrize("k", range(7))
def test_forward_wrong_bias_shape(k, reset_after):
    family = GRU if reset_after else GRU_RESET_BEFORE
    inputs = family.valid_inputs()
    inputs["bias"] = np.zeros(WRONG_BIAS[reset_after][k])
    msg = family.expect_forward_error(inputs, ValueError)
    assert f"reset_after={reset_after}" in msg, msg


def test_forward_recurrent_kernel_message_names_expected_and_got():
    inputs = GRU.valid_inputs()
    inputs["recurrent_kernel"] = np.zeros((H, 3 * H - 1))
    msg = GRU.expect_forward_error(inputs, ValueError)
    assert "recurrent_kernel" in msg and str((H, 3 * H - 1)) in msg and str((H, 3 * H)) in msg, msg
