"""Optimizers with Keras 3's names, defaults and update arithmetic (in place on Variable.value).

``optimizer.apply(grads, variables)`` (or ``apply_gradients(zip(grads, variables))``) clips the
gradients (clipnorm per variable, global_clipnorm, clipvalue), applies weight decay, then the
update rule, and counts the step in ``iterations``.
"""

from . import schedules
from .adagrad import Adadelta, Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax, Nadam
from .base_optimizer import Optimizer
from .rmsprop import RMSprop
from .lion import Lion
from .sgd import SGD

_BY_NAME = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad,
            "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam, "lion": Lion}


def get(identifier):
    """An optimizer from a name ('adam', 'sgd', 'rmsprop', 'adamw', 'adagrad', 'adadelta',
    'adamax', 'nadam', 'lion') or an Optimizer."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ValueError(f"[optimizers.get] unknown optimizer {identifier!r}; expected an Optimizer "
                     f"or one of {sorted(_BY_NAME)}")


__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax",
           "Nadam", "Lion", "schedules", "get"]
