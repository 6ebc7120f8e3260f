"""The optimizer base: clipping, learning rate (float or schedule), weight decay, iterations,
gradient accumulation, exponential moving averages (EMA), per-variable slots, config; subclasses
give ``update_step`` with Keras 3's arithmetic, in place."""

import re

import numpy as np

from .schedules import LearningRateSchedule
from . import schedules as _schedules


def _positive_or_none(owner, name, v):
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
        raise ValueError(f"[{owner}] {name} must be a positive number or None, got {v!r}")
    return None if v is None else float(v)


def _count_or_none(owner, name, v, minimum):
    """v, an integer >= minimum, or None; else ValueError."""
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer))
                          or v < minimum):
        raise ValueError(f"[{owner}] {name} must be an integer >= {minimum} or None, got {v!r}")
    return v


def _number(owner, name, v, low=None, high=None, low_open=False):
    """A real number within [low, high] ((low, high] with low_open), else ValueError/TypeError."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                             np.floating)):
        raise TypeError(f"[{owner}] {name} must be a number, got {v!r:.60}")
    v = float(v)
    if (low is not None and (v <= low if low_open else v < low)) or \
            (high is not None and v > high) or v != v:
        lo = "-inf" if low is None else low
        raise ValueError(f"[{owner}] {name} must be in {'(' if low_open else '['}{lo}, "
                         f"{'inf' if high is None else high}], got {v}")
    return v


class Optimizer:
    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, **kwargs):
        owner = type(self).__name__
        if kwargs:
            raise TypeError(f"[{owner}] unexpected argument(s): {sorted(kwargs)}")
        if loss_scale_factor is not None:
            # pyseq's fit computes gradients of the unscaled loss (no float16 to protect), so
            # Keras's unscaling in apply() would shrink every step: refuse rather than mis-train
            raise ValueError(f"[{owner}] loss_scale_factor is not supported by pyseq (NumPy "
                             f"training needs no loss scaling), got {loss_scale_factor!r}")
        self.name = name or owner.lower()
        self.weight_decay = None if weight_decay is None else _number(
            owner, "weight_decay", weight_decay)
        self.clipnorm = _positive_or_none(owner, "clipnorm", clipnorm)
        self.clipvalue = _positive_or_none(owner, "clipvalue", clipvalue)
        self.global_clipnorm = _positive_or_none(owner, "global_clipnorm", global_clipnorm)
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"[{owner}] give only one of clipnorm, clipvalue and "
                             f"global_clipnorm, got clipnorm={clipnorm}, clipvalue={clipvalue},"
                             f" global_clipnorm={global_clipnorm}")
        steps = _count_or_none(owner, "gradient_accumulation_steps", gradient_accumulation_steps, 2)
        self.gradient_accumulation_steps = None if steps is None else int(steps)
        self.use_ema = bool(use_ema)
        self.ema_momentum = _number(owner, "ema_momentum", ema_momentum, 0.0, 1.0)
        self.ema_overwrite_frequency = _count_or_none(owner, "ema_overwrite_frequency",
                                                      ema_overwrite_frequency, 1)
        self.loss_scale_factor = None
        self._learning_rate = None
        self.learning_rate = learning_rate
        self._iterations = 0
        self._slots = {}
        self._exclude = set()
        self._exclude_names = []
        self._ema_vars = []     # every variable seen by apply, in first-seen order (Keras: built)

    # -- iterations and learning rate ------------------------------------------------------
    @property
    def iterations(self):
        """Steps applied; with gradient accumulation, updates made (applies // steps), as
        Keras."""
        if self.gradient_accumulation_steps:
            return self._iterations // self.gradient_accumulation_steps
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        self._iterations = int(value)

    @property
    def learning_rate(self):
        """The current rate: a schedule is evaluated at the number of applies so far, another
        callable is called with no argument (Keras 3)."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(lr(self._iterations))
        if callable(lr):
            return float(lr())
        return lr

    @learning_rate.setter
    def learning_rate(self, value):
        if not (isinstance(value, LearningRateSchedule) or callable(value)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(
                    value, (int, float, np.integer, np.floating)):
                raise TypeError(f"[{type(self).__name__}] learning_rate must be a float, a "
                                f"LearningRateSchedule or a callable, got {value!r:.60}")
            if isinstance(self._learning_rate, LearningRateSchedule):
                raise TypeError(f"[{type(self).__name__}] this optimizer's learning_rate is a "
                                "LearningRateSchedule, so it cannot be set to a number (Keras)")
            value = float(value)
        self._learning_rate = value

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """No weight decay for these variables, nor for those whose name matches one of the
        regular expressions in ``var_names`` (each call replaces the last, as Keras)."""
        self._exclude = {id(v) for v in var_list or []}
        self._exclude_names = [re.compile(n) for n in var_names or []]

    def _use_weight_decay(self, v):
        return id(v) not in self._exclude and not any(p.search(v.name)
                                                      for p in self._exclude_names)

    # -- state -----------------------------------------------------------------------------
    def slot(self, var, name, initial=0.0):
        """An array shaped like ``var`` (filled with ``initial``) kept for this optimizer."""
        key = (id(var), name)
        s = self._slots.get(key)
        if s is None:
            s = np.full_like(var.value, initial)
            self._slots[key] = s
        return s

    def _state_size(self):
        """(count, bytes) of the state Keras's ``optimizer.variables`` holds once built, as
        ``summary()`` reports it: the int32 step counter, the float32 learning rate (unless a
        schedule or callable), the per-variable slots, and ``_extra_state_size()``."""
        count = 1 + (0 if callable(self._learning_rate) else 1)
        nbytes = 4 * count
        for s in self._slots.values():
            count, nbytes = count + s.size, nbytes + s.nbytes
        extra_count, extra_bytes = self._extra_state_size()
        return count + extra_count, nbytes + extra_bytes

    def _extra_state_size(self):
        """State Keras keeps that pyseq does not (or keeps elsewhere)."""
        return 0, 0

    # -- applying gradients ----------------------------------------------------------------
    def _clip(self, grads):
        if self.clipnorm:
            out = []
            for g in grads:
                if g is None:
                    out.append(g)
                    continue
                norm = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
                out.append(g * g.dtype.type(self.clipnorm / max(norm, self.clipnorm))
                           if norm > 0 else g)
            return out
        if self.global_clipnorm:
            norm = float(np.sqrt(sum(np.sum(np.square(g, dtype=np.float64))
                                     for g in grads if g is not None)))
            scale = self.global_clipnorm * min(1.0 / norm if norm > 0 else np.inf,
                                               1.0 / self.global_clipnorm)
            return [None if g is None else g * g.dtype.type(scale) for g in grads]
        if self.clipvalue:
            v = self.clipvalue
            return [None if g is None else np.clip(g, -v, v) for g in grads]
        return grads

    def apply(self, grads, trainable_variables):
        """Update the variables in place from ``grads`` (NumPy arrays aligned with them)."""
        grads = list(grads)
        variables = list(trainable_variables)
        if len(grads) != len(variables):
            raise ValueError(f"[{type(self).__name__}.apply] got {len(grads)} gradients for "
                             f"{len(variables)} variables")
        for g, v in zip(grads, variables):
            if g is not None and np.shape(g) != v.shape:
                raise ValueError(f"[{type(self).__name__}.apply] gradient of shape "
                                 f"{np.shape(g)} for {v.name} of shape {v.shape}")
        if not grads:           # Keras: nothing to do, not even a step counted
            return
        if all(g is None for g in grads):
            raise ValueError(f"[{type(self).__name__}.apply] no gradient for any of the "
                             f"{len(grads)} variables")
        known = {id(v) for v in self._ema_vars}
        self._ema_vars += [v for v in variables if id(v) not in known]
        pairs = [(np.asarray(g, dtype=v.dtype), v) for g, v in zip(grads, variables)
                 if g is not None]
        grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
        steps = self.gradient_accumulation_steps
        if steps and (self._iterations + 1) % steps != 0:
            for g, v in pairs:              # not an update step: only sum the raw gradients
                self.slot(v, "gradient_accumulator")[...] += g
        else:
            if steps:                       # the update step: the mean of the last `steps`
                accs = [self.slot(v, "gradient_accumulator") for v in variables]
                grads = [(g + a) / g.dtype.type(steps) for g, a in zip(grads, accs)]
                for a in accs:
                    a[...] = 0
            grads = self._clip(grads)
            lr = self.learning_rate
            if self.weight_decay:
                for v in variables:
                    if self._use_weight_decay(v):
                        v.value -= v.value * v.dtype.type(self.weight_decay * lr)
            self._update_all(grads, variables, lr)
        if self.use_ema:
            self._update_ema()
        for v in variables:  # Keras: a variable's constraint projects it after the update
            if getattr(v, "constraint", None) is not None:
                v.assign(v.constraint(v.value))
        self._iterations += 1

    def _update_all(self, grads, variables, learning_rate):
        """One update of every variable (Nadam adds its once-per-step state here)."""
        for g, v in zip(grads, variables):
            self.update_step(g, v, learning_rate)

    def _update_ema(self):
        # Keras: the average starts at the variable (momentum 0 on the first update), then
        # average = m * average + (1 - m) * var; every ema_overwrite_frequency updates the
        # variables take their averages
        m = self.ema_momentum if self.iterations != 0 else 0.0
        for v in self._ema_vars:
            avg = self.slot(v, "average")
            t = v.dtype.type
            avg *= t(m)
            avg += t(1 - m) * v.value
        freq = self.ema_overwrite_frequency
        if freq and (self.iterations + 1) % freq == 0:
            self.finalize_variable_values(self._ema_vars)

    def finalize_variable_values(self, var_list):
        """With use_ema, give each variable its moving average (Keras calls this at fit's
        end)."""
        if not self.use_ema:
            return
        for v in var_list:
            avg = self._slots.get((id(v), "average"))
            if avg is not None:
                v.value[...] = avg

    def apply_gradients(self, grads_and_vars):
        """Keras's form: ``apply_gradients(zip(grads, variables))``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self._iterations

    def update_step(self, gradient, variable, learning_rate):
        raise NotImplementedError

    # -- config ----------------------------------------------------------------------------
    def get_config(self):
        """Keras's keys: the base arguments, then each optimizer's own (a schedule as its
        serialised dict)."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = _schedules.serialize(lr)
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"])
        return cls(**config)
