"""Keras constructor arguments pyseq's sequence layers accept without acting on them."""

# Regularizers and constraints are not implemented: None (Keras's default) is accepted so that
# Keras code and configs that spell the defaults out still run; anything else is refused.
_UNSUPPORTED = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                "bias_constraint")
# Backend or implementation choices that do not change the result here.
_IGNORED = ("use_cudnn", "implementation", "lora_rank", "lora_alpha", "flash_attention")


# The same for the other layers (weight-specific regularizers and constraints, quantization),
# and arguments whose Keras default is the only behaviour pyseq has.
_UNSUPPORTED_MORE = ("embeddings_regularizer", "embeddings_constraint", "beta_regularizer",
                     "gamma_regularizer", "beta_constraint", "gamma_constraint",
                     "quantization_config", "renorm_clipping")
_DEFAULT_ONLY = {"renorm": False, "synchronized": False}
_IGNORED_MORE = ("renorm_momentum",)


def pop_keras_only(layer, kwargs):
    """Remove Keras-only arguments from ``kwargs``; ValueError naming ``layer`` for a
    regularizer or constraint that is set."""
    for name in _UNSUPPORTED:
        value = kwargs.pop(name, None)
        if value is not None:
            raise ValueError(f"[{layer}] {name} is not supported by pyseq, got {value!r}")
    for name in _UNSUPPORTED_MORE:
        value = kwargs.pop(name, None)
        if value is not None:
            raise ValueError(f"[{layer}] {name} is not supported by pyseq, got {value!r}")
    for name, default in _DEFAULT_ONLY.items():
        if name in kwargs and kwargs.pop(name) != default:
            raise ValueError(f"[{layer}] only {name}={default} is supported by pyseq")
    for name in _IGNORED + _IGNORED_MORE:
        kwargs.pop(name, None)
    return kwargs
