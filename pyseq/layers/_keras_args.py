"""Keras constructor arguments pyseq's sequence layers accept without acting on them."""

# Backend or implementation choices that do not change the result here. (Regularizers and
# constraints are real arguments: see _regularization.pop_weight_options.)
_IGNORED = ("use_cudnn", "implementation", "lora_rank", "lora_alpha", "flash_attention")


def pop_keras_only(layer, kwargs):
    """Remove the Keras-only arguments that have no effect in pyseq from ``kwargs``."""
    for name in _IGNORED:
        kwargs.pop(name, None)
    return kwargs
