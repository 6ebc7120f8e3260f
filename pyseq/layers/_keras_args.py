"""Keras constructor arguments pyseq's sequence layers accept without acting on them."""

# Regularizers and constraints are not implemented: None (Keras's default) is accepted so that
# Keras code and configs that spell the defaults out still run; anything else is refused.
_UNSUPPORTED = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                "bias_constraint")
# Backend or implementation choices that do not change the result here.
_IGNORED = ("use_cudnn", "implementation", "lora_rank", "lora_alpha", "flash_attention")


def pop_keras_only(layer, kwargs):
    """Remove Keras-only arguments from ``kwargs``; ValueError naming ``layer`` for a
    regularizer or constraint that is set."""
    for name in _UNSUPPORTED:
        value = kwargs.pop(name, None)
        if value is not None:
            raise ValueError(f"[{layer}] {name} is not supported by pyseq, got {value!r}")
    for name in _IGNORED:
        kwargs.pop(name, None)
    return kwargs
