"""compile / fit / evaluate / predict / *_on_batch and the NumPy training-loop entry points
(``compute_gradients``, ``gradients_from``) shared by Model and Sequential."""

import math
import warnings

import numpy as np

from .. import losses as _losses
from .. import metrics as _metrics
from .. import optimizers as _optimizers
from ..callbacks import Callback, History
from ..layers._call import SymbolicTensor, flatten
from ..layers._regularization import add_weight_penalty_grads
from ..layers.base import PreActivationGrad
from .progbar import Progbar


def sorted_structure(x):
    """``x`` with every dict's keys in sorted order: Keras flattens dicts so (optree), which
    orders a dict model's inputs, outputs, layers and weights."""
    if isinstance(x, dict):
        return {k: sorted_structure(x[k]) for k in sorted(x)}
    if isinstance(x, (list, tuple)) and not isinstance(x, SymbolicTensor):
        return type(x)(sorted_structure(v) for v in x)
    return x


def _structure_keys(structure):
    """The keys of a flat dict of symbolic tensors (in flattening order), else None."""
    if isinstance(structure, dict) and all(isinstance(v, SymbolicTensor)
                                           for v in structure.values()):
        return list(structure)
    return None


def _verbose(v):
    if v == "auto":
        return 1
    if v not in (0, 1, 2, True, False):
        raise ValueError(f"[fit] verbose must be 'auto', 0, 1 or 2, got {v!r}")
    return int(v)


def _count(what, name, value, minimum, default=None):
    """An integer argument of fit/evaluate/predict (None gives ``default``), at least ``minimum``."""
    if value is None:
        return default
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"[{what}] {name} must be an int, got {value!r:.60}")
    if value < minimum:
        raise ValueError(f"[{what}] {name} must be {'positive' if minimum == 1 else f'>= {minimum}'}, "
                         f"got {value}")
    return int(value)


def _num_samples(what, arrays):
    sizes = {len(a) for a in arrays if a is not None}
    if len(sizes) > 1:
        raise ValueError(f"[{what}] all inputs and targets must have the same number of samples, "
                         f"got {sorted(sizes)}")
    return sizes.pop() if sizes else 0


def _metric_state(metric):
    """A copy of a metric's running state (totals, counts, confusion-matrix arrays)."""
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in vars(metric).items()}
class NotCompiledError(RuntimeError, ValueError):
    """fit/evaluate before compile(): Keras raises ValueError, earlier pyseq RuntimeError."""


def _take(arrays, index):
    return [None if a is None else a[index] for a in arrays]


class Trainer:
    def __init__(self):
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self._loss_list = None

    # -- data ------------------------------------------------------------------------------
    def _ensure_built(self, x):
        """Sequential builds here from the first data; a functional model is already built."""

    def _standardize_inputs(self, x):
        """Flat list of arrays aligned with the model's inputs, floats in the input's dtype."""
        inputs = self._graph.inputs
        if isinstance(x, dict):
            # a dict model's keys (Keras), else (or failing those) the Input layers' names
            names = _structure_keys(getattr(self, "_input_structure", None))
            if names is None or any(n not in x for n in names):
                names = [t.node.layer.name for t in inputs]
            missing = [n for n in names if n not in x]
            if missing:
                raise ValueError(f"[{self.name}] missing inputs {missing} in the dict of inputs")
            xs = [x[n] for n in names]
        elif len(inputs) > 1:
            if not isinstance(x, (list, tuple)):
                raise ValueError(f"[{self.name}] expects a list of {len(inputs)} inputs, got "
                                 f"{type(x).__name__}")
            xs = list(x)
        elif isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
            xs = [x[0]]
        else:
            xs = [x]
        if len(xs) != len(inputs):
            raise ValueError(f"[{self.name}] expects {len(inputs)} input(s), got {len(xs)}")
        out = []
        for a, t in zip(xs, inputs):
            a = np.asarray(a)
            if a.dtype.kind == "f" and np.dtype(t.dtype).kind == "f" and a.dtype != t.dtype:
                a = a.astype(t.dtype)
            elif a.dtype.kind not in "fiub":
                raise TypeError(f"[{self.name}] input {t.name} must be numeric, got dtype "
                                f"{a.dtype}")
            if a.ndim != len(t.shape):
                raise ValueError(f"[{self.name}] input {t.name} expects arrays of rank "
                                 f"{len(t.shape)} (shape {t.shape}), got shape {a.shape}")
            for d, e in zip(a.shape[1:], t.shape[1:]):
                if e is not None and d != e:
                    raise ValueError(f"[{self.name}] input {t.name} expects shape {t.shape}, got "
                                     f"{a.shape}")
            out.append(a)
        return out

    def _standardize_targets(self, y):
        outputs = self._graph.outputs
        if y is None:
            if any(lo is not None for lo in self._loss_list or []):
                # Keras fails too (its loss gets no targets); pyseq trained on a zero loss
                raise ValueError(f"[{self.name}] the compiled loss needs targets: give y")
            return [None] * len(outputs)
        if isinstance(y, (list, tuple)) and len(y) == 1 and len(outputs) == 1 and \
                isinstance(y[0], np.ndarray):
            y = y[0]    # [y] for a single output, as Keras (and as x=[x] for one input)
        if isinstance(y, dict):
            names = self._output_names()
            unknown = sorted(set(y) - set(names), key=str)
            if unknown:     # Keras fails too; pyseq left those outputs without a loss
                raise ValueError(f"[{self.name}] targets for unknown outputs {unknown}; "
                                 f"outputs: {names}")
            return [None if y.get(n) is None else self._numeric_target(y.get(n)) for n in names]
        if isinstance(y, (list, tuple)) and len(outputs) > 1:
            if len(y) != len(outputs):
                raise ValueError(f"[{self.name}] expects {len(outputs)} targets, got {len(y)}")
            return [None if a is None else self._numeric_target(a) for a in y]
        return [self._numeric_target(y)]

    def _numeric_target(self, y):
        arr = np.asarray(y)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"[{self.name}] targets must be numeric arrays, got dtype {arr.dtype}")
        return arr

    # -- compile ---------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        self.optimizer = _optimizers.get(optimizer)
        self._loss_spec, self._loss_weight_spec, self._metric_spec = loss, loss_weights, metrics
        self._weighted_metric_spec = weighted_metrics
        self._loss_list = None
        self.compiled = True
        if self._graph_ready():
            self._resolve_compile()

    def _graph_ready(self):
        return getattr(self, "_graph", None) is not None

    def _output_names(self):
        """The names compile, fit and the logs key outputs by: a dict model's keys (Keras),
        else the output layers' names."""
        return _structure_keys(getattr(self, "_output_structure", None)) or \
            [t.node.layer.name for t in self._graph.outputs]

    def _per_output(self, spec, what, default=None):
        n = len(self._graph.outputs)
        names = self._output_names()
        if isinstance(spec, dict):
            unknown = set(spec) - set(names)
            if unknown:
                raise ValueError(f"[{self.name}.compile] {what} names unknown outputs "
                                 f"{sorted(unknown)}; outputs: {names}")
            return [spec.get(nm, default) for nm in names]
        if isinstance(spec, (list, tuple)) and what != "metrics":
            if len(spec) != n:
                raise ValueError(f"[{self.name}.compile] {what} has {len(spec)} entries for {n} "
                                 "outputs")
            return list(spec)
        if isinstance(spec, (list, tuple)) and what == "metrics" and n > 1 and len(spec) == n:
            # Keras: one entry (a metric, a list of them, or None) per output
            return list(spec)
        return [spec] * n

    def _resolve_compile(self):
        losses = self._per_output(self._loss_spec, "loss")
        self._loss_list = [None if lo is None else _losses.get(lo) for lo in losses]
        weights = self._per_output(self._loss_weight_spec, "loss_weights", 1.0)
        self._loss_weights = [1.0 if w is None else float(w) for w in weights]
        self._metric_lists = None

    def _resolve_metrics(self, ys, outs):
        """Per output, the compiled metrics: ``metrics`` ignore sample weights and
        ``weighted_metrics`` use them (Keras 3); a repeated name gets _1, _2, ... as in Keras."""
        names = self._output_names()
        multi = len(names) > 1
        lists = [[] for _ in names]
        for spec_all, weighted in ((self._metric_spec, False),
                                   (getattr(self, "_weighted_metric_spec", None), True)):
            for i, spec in enumerate(self._per_output(spec_all, "metrics")):
                for m in ([] if spec is None else spec if isinstance(spec, (list, tuple))
                          else [spec]):
                    yt = ys[i] if ys[i] is not None else np.zeros(0)
                    metric = _metrics.get(m, yt, outs[i], self._loss_list[i])
                    metric.uses_sample_weight = weighted
                    lists[i].append(metric)
        # Keras's log names: the output's name first when there are several outputs; a repeat
        # gets _1, _2, ...; a weighted metric whose name is taken becomes weighted_<name>.
        counts = {}
        for weighted in (False, True):
            for i, ms in enumerate(lists):
                prefix = f"{names[i]}_" if multi else ""
                for m in (m for m in ms if m.uses_sample_weight == weighted):
                    name = prefix + m.name
                    if name in counts and weighted:
                        name = f"{prefix}weighted_{m.name}"
                    if name in counts:
                        counts[name] += 1
                        name = f"{name}_{counts[name] - 1}"
                    else:
                        counts[name] = 1
                    m.name = name
        self._metric_lists = lists

    def _require_compiled(self, what):
        if not self.compiled:
            raise NotCompiledError(f"[{self.name}.{what}] call compile() first")
        if self._loss_list is None:
            self._resolve_compile()

    # -- gradients -------------------------------------------------------------------------
    def _logits_shortcut(self, i, loss):
        want = getattr(loss, "has_logits_grad", None)
        node = self._graph.node_of_output[i]
        if want is None or node is None or node.multi:
            return False
        layer = node.layer
        t = self._graph.outputs[i]
        return (getattr(layer, "accepts_preactivation_grad", False) and
                getattr(getattr(layer, "activation", None), "name", None) == want and
                getattr(layer, "activity_regularizer", None) is None and
                self._graph.uses.get(id(t), 0) == 1)

    def _losses_and_output_grads(self, ys, outs, masks, sample_weight=None):
        total, per_output, d_outs = 0.0, [], []
        for i, loss in enumerate(self._loss_list):
            if loss is None or ys[i] is None:
                per_output.append(None)
                d_outs.append(None)
                continue
            w = self._loss_weights[i]
            shortcut = self._logits_shortcut(i, loss)
            value, d = loss.value_and_grad(ys[i], outs[i], sample_weight, masks[i],
                                           logits=True if shortcut else None)
            if w != 1.0:
                d = d * d.dtype.type(w)
            d_outs.append(PreActivationGrad(d) if shortcut else d)
            per_output.append(value)
            total += w * value
        return total, per_output, d_outs

    def _aligned(self, var_grads):
        out = []
        variables = self.trainable_weights
        for v in variables:
            entry = var_grads.get(id(v))
            out.append(np.zeros_like(v.value) if entry is None else entry[1])
        return add_weight_penalty_grads(variables, out)  # the regularizers' gradients

    def _penalized(self, total):
        """The compiled loss plus the regularization penalties, ``sum(model.losses)`` (read
        after the forward pass), as Keras's compute_loss in fit, evaluate and *_on_batch."""
        penalties = self.losses
        if not penalties and all(lo is None for lo in self._loss_list or []):
            # Keras: "No loss to compute"; pyseq stepped on a zero loss
            raise ValueError(f"[{self.name}] no loss to compute: give compile() a loss (or "
                             "the model regularization losses)")
        return total + float(sum(penalties)) if penalties else total

    def compute_gradients(self, x, y, sample_weight=None, training=True, return_outputs=False):
        """``loss, grads`` for one batch: the compiled loss (summed over outputs with
        loss_weights) plus the regularization penalties (``sum(model.losses)``, as Keras's fit
        minimises), and its gradients, NumPy arrays aligned with ``trainable_weights``.
        With ``return_outputs=True``, ``loss, grads, outputs``."""
        self._ensure_built(x)
        self._require_compiled("compute_gradients")
        xs, ys = self._standardize_inputs(x), self._standardize_targets(y)
        outs, masks, caches = self._graph.forward(xs, training=training)
        total, _, d_outs = self._losses_and_output_grads(ys, outs, masks, sample_weight)
        total = self._penalized(total)
        var_grads, _ = self._graph.backward(caches, d_outs)
        grads = self._aligned(var_grads)
        if return_outputs:
            return total, grads, self._pack_outputs(outs)
        return total, grads

    def forward_for_gradients(self, x, training=True):
        """``outputs, cache``: the forward pass of a custom loop; then
        ``gradients_from(cache, d_outputs)`` for any upstream gradient of the outputs.
        ``model.losses`` then holds the regularization penalties of this pass."""
        self._ensure_built(x)
        xs = self._standardize_inputs(x)
        outs, masks, caches = self._graph.forward(xs, training=training)
        return self._pack_outputs(outs), caches

    def gradients_from(self, cache, d_outputs):
        """Gradients (aligned with ``trainable_weights``) of sum(outputs * d_outputs), plus,
        for a model with regularizers, those of the penalties ``sum(model.losses)`` of the
        forward pass that made ``cache`` (a loop adds their values to its own loss)."""
        d = [d_outputs] if isinstance(self._output_structure, SymbolicTensor) else \
            flatten(sorted_structure(d_outputs))
        var_grads, _ = self._graph.backward(cache, d)
        return self._aligned(var_grads)

    # -- steps -----------------------------------------------------------------------------
    def _train_batch(self, xs, ys, sw):
        outs, masks, caches = self._graph.forward(xs, training=True)
        total, per_output, d_outs = self._losses_and_output_grads(ys, outs, masks, sw)
        total = self._penalized(total)  # before the update: the weights the loss saw
        var_grads, _ = self._graph.backward(caches, d_outs)
        self.optimizer.apply(self._aligned(var_grads), self.trainable_weights)
        self._update_metrics(ys, outs, masks, sw, total, per_output, len(xs[0]))

    def _test_batch(self, xs, ys, sw):
        outs, masks, _ = self._graph.forward(xs, training=False)
        total, per_output, _ = self._losses_and_output_grads(ys, outs, masks, sw)
        total = self._penalized(total)
        self._update_metrics(ys, outs, masks, sw, total, per_output, len(xs[0]))

    def _reset_metrics(self):
        self._loss_tracker = _metrics.Mean(name="loss")
        self._output_loss_trackers = [_metrics.Mean(name=f"{n}_loss")
                                      for n in self._output_names()]
        for ms in self._metric_lists or []:
            for m in ms:
                m.reset_state()

    def _update_metrics(self, ys, outs, masks, sw, total, per_output, batch):
        if self._metric_lists is None:
            self._resolve_metrics(ys, outs)
            self._reset_metrics_objects_only()
        self._loss_tracker.update_state(total, sample_weight=batch)
        if len(per_output) > 1:
            for tracker, v in zip(self._output_loss_trackers, per_output):
                if v is not None:
                    tracker.update_state(v, sample_weight=batch)
        for i, ms in enumerate(self._metric_lists):
            for m in ms:
                if ys[i] is not None:
                    m.update_state(ys[i], outs[i], mask=masks[i],
                                   sample_weight=sw if m.uses_sample_weight else None)

    def _reset_metrics_objects_only(self):
        for ms in self._metric_lists:
            for m in ms:
                m.reset_state()

    def _logs(self):
        logs = {}
        for ms in self._metric_lists or []:
            for m in ms:
                logs[m.name] = m.result()
        logs["loss"] = self._loss_tracker.result()
        # Keras tracks the per-output losses only when more than one output has a loss
        if sum(lo is not None for lo in self._loss_list or []) > 1:
            for t in self._output_loss_trackers:
                if t.count:
                    logs[t.name] = t.result()
        return dict(sorted(logs.items()))    # Keras's logs come sorted by name (pythonify_logs)

    @property
    def metrics_names(self):
        if not getattr(self, "compiled", False):
            return []  # Keras: an uncompiled model has no metrics
        names = ["loss"]
        for ms in getattr(self, "_metric_lists", None) or []:
            names += [m.name for m in ms]
        return names

    def _sample_weights(self, what, ys, sample_weight, class_weight):
        """The per-sample weights: ``sample_weight``, or ``class_weight`` ({class: weight})
        turned into them as Keras does (the class is the argmax of one-hot targets, else the
        rounded label; classes not in the dict weigh 1)."""
        if class_weight is None:
            return None if sample_weight is None else np.asarray(sample_weight)
        if sample_weight is not None:
            raise ValueError(f"[{what}] give class_weight or sample_weight, not both (Keras)")
        if not isinstance(class_weight, dict):
            raise TypeError(f"[{what}] class_weight must be a dict {{class index: weight}}, got "
                            f"{type(class_weight).__name__}")
        if len(ys) != 1:
            raise ValueError(f"[{what}] class_weight is only supported for models with a single "
                             f"output (Keras), this one has {len(ys)}")
        y = np.asarray(ys[0])
        if y.ndim > 1:
            y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
        y = np.round(y).astype(np.int64)
        if y.ndim != 1:
            raise ValueError(f"[{what}] class_weight needs one class per sample, got targets of "
                             f"shape {np.shape(ys[0])}")
        weights = {int(k): float(v) for k, v in class_weight.items()}
        return np.array([weights.get(int(c), 1.0) for c in y], dtype=np.float32)

    # -- fit / evaluate / predict ----------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Trains for ``epochs`` epochs; returns a History. ``validation_split`` takes the last
        fraction of the samples (before shuffling), as Keras."""
        self._ensure_built(x)
        self._require_compiled("fit")
        verbose = _verbose(verbose)
        batch_size = _count("fit", "batch_size", batch_size, 1, 32)
        epochs = _count("fit", "epochs", epochs, 0)
        initial_epoch = _count("fit", "initial_epoch", initial_epoch, 0)
        steps_per_epoch = _count("fit", "steps_per_epoch", steps_per_epoch, 1)
        validation_steps = _count("fit", "validation_steps", validation_steps, 1)
        validation_batch_size = _count("fit", "validation_batch_size", validation_batch_size, 1)
        validation_freq = _count("fit", "validation_freq", validation_freq, 1)
        xs, ys = self._standardize_inputs(x), self._standardize_targets(y)
        sw = self._sample_weights("fit", ys, sample_weight, class_weight)
        n = _num_samples("fit", xs + ys + ([sw] if sw is not None else []))
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("[fit] validation_data must be a tuple (x_val, y_val) or "
                                 "(x_val, y_val, val_sample_weight), got "
                                 f"{type(validation_data).__name__}"
                                 + (f" of length {len(validation_data)}"
                                    if isinstance(validation_data, (tuple, list)) else ""))
            vx, vy = validation_data[0], validation_data[1]
            vsw = validation_data[2] if len(validation_data) > 2 else None
            val = (vx, vy, vsw)
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"[fit] validation_split must be in (0, 1), got "
                                 f"{validation_split}")
            split = int(math.floor(n * (1.0 - validation_split)))
            # the validation samples keep their sample_weight; class_weight weighs training only
            # (Keras splits (x, y, sample_weight) before applying class_weight)
            val = (_take(xs, slice(split, None)), _take(ys, slice(split, None)),
                   None if class_weight is not None or sw is None else sw[split:])
            xs, ys = _take(xs, slice(0, split)), _take(ys, slice(0, split))
            sw = None if sw is None else sw[:split]
            n = split
            if n == 0:
                raise ValueError("[fit] validation_split leaves no training samples")
        if n == 0:
            raise ValueError("[fit] no training samples")
        num_batches = math.ceil(n / batch_size)
        steps = num_batches if steps_per_epoch is None else steps_per_epoch
        history = History()
        cbs = list(callbacks or []) + [history]  # History last, as Keras: it sees all logs
        for cb in cbs:
            if not isinstance(cb, Callback):
                raise TypeError(f"[fit] callbacks must be Callback objects, got {type(cb)}")
            cb.set_model(self)
            cb.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})  # Keras's order
        self.stop_training = False
        self.history = history
        for cb in cbs:
            cb.on_train_begin({})
        # Keras's epoch iterator: with steps_per_epoch, an epoch takes the next batches of one
        # pass over the data (the same shuffle) and the pass goes on in the next epoch; an epoch
        # ends early where the pass runs out, and the next epoch starts a new pass
        seen, order = num_batches, None
        for epoch in range(initial_epoch, epochs):
            self._reset_metrics()
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            if verbose and epochs > 1:   # Keras's ProgbarLogger: verbose 1 and 2, several epochs
                print(f"Epoch {epoch + 1}/{epochs}")
            bar = Progbar(steps, verbose=verbose)
            if steps_per_epoch is None or seen >= num_batches:
                seen = 0
                # shuffle="batch" permutes within each batch only, which leaves every batch's
                # loss and gradients as they were
                order = np.random.permutation(n) if shuffle and shuffle != "batch" else None
            logs = {}
            step = 0
            for step in range(steps):
                if seen >= num_batches:
                    warnings.warn(f"[{self.name}.fit] the data ran out after {step} of "
                                  f"steps_per_epoch={steps} steps; this epoch ends here (as "
                                  "Keras's 'Your input ran out of data')", stacklevel=2)
                    step -= 1
                    break
                b = seen
                seen += 1
                if order is None:
                    idx = slice(b * batch_size, min(n, (b + 1) * batch_size))
                else:
                    idx = np.sort(order[b * batch_size:(b + 1) * batch_size])
                for cb in cbs:
                    cb.on_train_batch_begin(step, {})
                self._train_batch(_take(xs, idx), _take(ys, idx),
                                  None if sw is None else sw[idx])
                logs = self._logs()
                for cb in cbs:
                    cb.on_train_batch_end(step, logs)
                bar.update(step + 1, logs)
                if self.stop_training:
                    break
            epoch_logs = dict(logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                vlogs = self.evaluate(val[0], val[1], batch_size=validation_batch_size or
                                      batch_size, verbose=0, sample_weight=val[2],
                                      steps=validation_steps, return_dict=True, _internal=True,
                                      callbacks=cbs)
                epoch_logs.update({f"val_{k}": v for k, v in vlogs.items()})
            for cb in cbs:
                cb.on_epoch_end(epoch, epoch_logs)
            bar.update(step + 1, epoch_logs, finalize=True)
            if self.stop_training:
                break
        if epochs > initial_epoch:   # Keras: EMA weights (use_ema) replace the trained ones
            self.optimizer.finalize_variable_values(self.trainable_weights)
        for cb in cbs:
            cb.on_train_end(epoch_logs if epochs > initial_epoch else {})
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, _internal=False):
        self._ensure_built(x)
        self._require_compiled("evaluate")
        verbose = _verbose(verbose)
        batch_size = _count("evaluate", "batch_size", batch_size, 1, 32)
        steps = _count("evaluate", "steps", steps, 1)
        if _internal:
            xs = x if isinstance(x, list) and len(x) == len(self._graph.inputs) and \
                all(isinstance(a, np.ndarray) for a in x) else self._standardize_inputs(x)
            ys = y if isinstance(y, list) and len(y) == len(self._graph.outputs) else \
                self._standardize_targets(y)
        else:
            xs, ys = self._standardize_inputs(x), self._standardize_targets(y)
        sw = None if sample_weight is None else np.asarray(sample_weight)
        n = _num_samples("evaluate", xs + ys + ([sw] if sw is not None else []))
        saved = self._save_metric_state()
        self._reset_metrics()
        num = math.ceil(n / batch_size) if steps is None else min(steps, math.ceil(n / batch_size))
        # fit's validation passes fit's callbacks (their params stay fit's), as Keras
        cbs = callbacks if _internal else self._callbacks("evaluate", callbacks, verbose, num)
        for cb in cbs:
            cb.on_test_begin({})
        bar = Progbar(num, verbose=verbose)
        for b in range(num):
            idx = slice(b * batch_size, min(n, (b + 1) * batch_size))
            for cb in cbs:
                cb.on_test_batch_begin(b, {})
            self._test_batch(_take(xs, idx), _take(ys, idx), None if sw is None else sw[idx])
            logs = self._logs()
            for cb in cbs:
                cb.on_test_batch_end(b, logs)
            bar.update(b + 1, logs, finalize=(b + 1 == num))
        logs = self._logs()
        for cb in cbs:
            cb.on_test_end(logs)
        self._restore_metric_state(saved)
        if return_dict:
            return logs
        return self._flatten_logs(logs)

    def _callbacks(self, what, callbacks, verbose, steps):
        """evaluate/predict's own callbacks, given the model and Keras's params."""
        cbs = list(callbacks or [])
        for cb in cbs:
            if not isinstance(cb, Callback):
                raise TypeError(f"[{what}] callbacks must be Callback objects, got {type(cb)}")
            cb.set_model(self)
            cb.set_params({"verbose": verbose, "epochs": 1, "steps": steps})
        return cbs

    def _save_metric_state(self):
        if self._metric_lists is None:
            return None
        return (getattr(self, "_loss_tracker", None), getattr(self, "_output_loss_trackers", None),
                [[_metric_state(m) for m in ms] for ms in self._metric_lists])

    def _restore_metric_state(self, saved):
        if saved is None:
            return
        self._loss_tracker, self._output_loss_trackers, states = saved
        for ms, st in zip(self._metric_lists, states):
            for m, state in zip(ms, st):
                vars(m).update(state)

    def _flatten_logs(self, logs):
        # Keras's order: the loss, the per-output losses, the compiled metrics, then the rest
        # sorted by name
        first = ["loss"] + [t.name for t in getattr(self, "_output_loss_trackers", [])]
        names = [n for n in dict.fromkeys(first + self.metrics_names) if n in logs]
        values = [logs[n] for n in names] + [logs[k] for k in sorted(logs) if k not in names]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        self._ensure_built(x)
        verbose = _verbose(verbose)
        batch_size = _count("predict", "batch_size", batch_size, 1, 32)
        steps = _count("predict", "steps", steps, 1)
        xs = self._standardize_inputs(x)
        n = _num_samples("predict", xs)
        num = math.ceil(n / batch_size) if steps is None else min(steps, math.ceil(n / batch_size))
        cbs = self._callbacks("predict", callbacks, verbose, num)
        for cb in cbs:
            cb.on_predict_begin({})
        bar = Progbar(num, verbose=verbose)
        chunks = []
        for b in range(num):
            idx = slice(b * batch_size, min(n, (b + 1) * batch_size))
            for cb in cbs:
                cb.on_predict_batch_begin(b, {})
            outs, _, _ = self._graph.forward(_take(xs, idx), training=False)
            chunks.append(outs)
            for cb in cbs:
                cb.on_predict_batch_end(b, {"outputs": self._pack_outputs(outs)})
            bar.update(b + 1, finalize=(b + 1 == num))
        for cb in cbs:
            cb.on_predict_end({})
        if not chunks:
            raise ValueError(f"[{self.name}.predict] no samples")
        outs = [np.concatenate([c[i] for c in chunks], axis=0) if len(chunks) > 1 else
                chunks[0][i] for i in range(len(self._graph.outputs))]
        return self._pack_outputs(outs)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        self._ensure_built(x)
        self._require_compiled("train_on_batch")
        xs, ys = self._standardize_inputs(x), self._standardize_targets(y)
        self._reset_metrics()
        self._train_batch(xs, ys, self._sample_weights("train_on_batch", ys, sample_weight,
                                                       class_weight))
        logs = self._logs()
        return logs if return_dict else self._flatten_logs(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._ensure_built(x)
        self._require_compiled("test_on_batch")
        xs, ys = self._standardize_inputs(x), self._standardize_targets(y)
        self._reset_metrics()
        self._test_batch(xs, ys, None if sample_weight is None else np.asarray(sample_weight))
        logs = self._logs()
        return logs if return_dict else self._flatten_logs(logs)

    def predict_on_batch(self, x):
        self._ensure_built(x)
        outs, _, _ = self._graph.forward(self._standardize_inputs(x), training=False)
        return self._pack_outputs(outs)

    def summary(self, line_length=None, positions=None, print_fn=None, **kwargs):
        from .summary import summary_lines
        lines = summary_lines(self)  # an unbuilt Sequential shows "?" and "0 (unbuilt)" rows
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text + "\n")  # Keras hands print_fn the whole table at once
        else:
            print(text)

    def count_params(self):
        if not self._graph_ready():
            raise ValueError(f"[{self.name}.count_params] the model is not built yet")
        return int(sum(v.value.size for v in self.weights))
