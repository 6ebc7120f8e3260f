"""Keras constructor arguments pyseq's layers accept without acting on them (regularizers and
constraints are real arguments: see _regularization.pop_weight_options)."""

# Keras arguments pyseq has no counterpart for: None (Keras's default) is accepted so that Keras
# code and configs that spell the defaults out still run; anything else is refused.
_UNSUPPORTED = ("quantization_config", "renorm_clipping")
# Arguments whose Keras default is the only behaviour pyseq has.
_DEFAULT_ONLY = {"renorm": False, "synchronized": False}
# Backend or implementation choices that do not change the result here.
_IGNORED = ("use_cudnn", "implementation", "lora_rank", "lora_alpha", "flash_attention",
            "renorm_momentum")


def pop_keras_only(layer, kwargs):
    """Remove the Keras-only arguments that have no effect in pyseq from ``kwargs``; ValueError
    naming ``layer`` for one pyseq lacks that is set."""
    for name in _UNSUPPORTED:
        value = kwargs.pop(name, None)
        if value is not None:
            raise ValueError(f"[{layer}] {name} is not supported by pyseq, got {value!r}")
    for name, default in _DEFAULT_ONLY.items():
        if name in kwargs and kwargs.pop(name) != default:
            raise ValueError(f"[{layer}] only {name}={default} is supported by pyseq")
    for name in _IGNORED:
        kwargs.pop(name, None)
    return kwargs
