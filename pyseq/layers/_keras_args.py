"""Keras constructor arguments pyseq's sequence layers accept without acting on them."""

# Activity regularizers are not implemented: None (Keras's default) is accepted so that Keras
# code and configs that spell the default out still run; anything else is refused. Weight
# regularizers and constraints (prefixes in WEIGHT_REGULARIZERS) stay in kwargs for
# Layer.__init__.
_UNSUPPORTED = ("activity_regularizer",)
WEIGHT_REGULARIZERS = ("kernel", "recurrent", "bias", "embeddings", "gamma", "beta",
                       "depthwise", "pointwise", "alpha")
# Backend or implementation choices that do not change the result here.
_IGNORED = ("use_cudnn", "implementation", "lora_rank", "lora_alpha", "flash_attention")


# The same for the other layers (weight-specific regularizers and constraints, quantization),
# and arguments whose Keras default is the only behaviour pyseq has.
_UNSUPPORTED_MORE = ("quantization_config", "renorm_clipping")
_DEFAULT_ONLY = {"renorm": False, "synchronized": False}
_IGNORED_MORE = ("renorm_momentum",)


def pop_keras_only(layer, kwargs):
    """Remove Keras-only arguments from ``kwargs``; ValueError naming ``layer`` for an
    activity regularizer that is set (weight regularizers and constraints stay in kwargs)."""
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
