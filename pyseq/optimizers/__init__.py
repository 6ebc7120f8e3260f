"""Optimizers with Keras 3's names, defaults and update arithmetic (in place on Variable.value).

``optimizer.apply(grads, variables)`` (or ``apply_gradients(zip(grads, variables))``) clips the
gradients (clipnorm per variable, global_clipnorm, clipvalue), applies weight decay, then the
update rule, and counts the step in ``iterations``; ``gradient_accumulation_steps`` and
``use_ema`` behave as in Keras.
"""

from . import schedules
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .base_optimizer import Optimizer
from .ftrl import Ftrl
from .lion import Lion
from .nadam import Nadam
from .rmsprop import RMSprop
from .sgd import SGD

_ALL = [SGD, RMSprop, Adam, AdamW, Adagrad, Adadelta, Adamax, Nadam, Lion, Ftrl, Adafactor]
_BY_NAME = {cls.__name__.lower(): cls for cls in _ALL}


def serialize(optimizer):
    """``{"class_name": ..., "config": ...}`` as Keras writes it."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"[optimizers.serialize] expected an Optimizer, got "
                        f"{type(optimizer).__name__}")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    """An optimizer from :func:`serialize`'s dict."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"[optimizers.deserialize] expected a dict with 'class_name' and "
                         f"'config', got {config!r:.80}")
    cls = _BY_NAME.get(str(config["class_name"]).lower())
    if cls is None:
        raise ValueError(f"[optimizers.deserialize] unknown optimizer {config['class_name']!r};"
                         f" expected one of {sorted(c.__name__ for c in _ALL)}")
    return cls.from_config(config.get("config", {}))


def get(identifier):
    """An optimizer from a name ('adam', 'sgd', 'nadam', ... any case), a serialised dict, or
    an Optimizer (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"[optimizers.get] unknown optimizer {identifier!r}; expected an Optimizer "
                     f"or one of {sorted(_BY_NAME)}")


__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax",
           "Nadam", "Lion", "Ftrl", "Adafactor", "schedules", "get", "serialize",
           "deserialize"]
