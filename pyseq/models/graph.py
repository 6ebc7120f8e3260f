"""The static graph of a functional model: Keras's node and layer order, the forward pass over
the nodes with run-time masks, and the backward pass in reverse node order.

Nothing is recorded per NumPy operation: each node's layer returns (outputs, cache) in forward
and turns the output gradients into argument and weight gradients in backward.
"""

from ..layers._call import (SymbolicTensor, flatten, keyword_masks, map_structure, pack_like,
                            structure_mask)
from ..layers._regularization import has_activity, outer_call, run_backward, run_forward
from ..layers.base import PreActivationGrad
from ..layers.embedding import Embedding

# Hand an Embedding's output to its only consumer unformed when that consumer is a recurrent
# layer that takes token inputs (it may fold the table into its input projection). Set to False
# to form every Embedding output, e.g. to compare the two.
fold_embeddings = True


class Graph:
    """Nodes between ``inputs`` and ``outputs`` (flat lists of SymbolicTensors)."""

    def __init__(self, inputs, outputs, owner="model"):
        for t in list(inputs) + list(outputs):
            if not isinstance(t, SymbolicTensor):
                raise ValueError(f"[{owner}] inputs and outputs must be symbolic tensors (from "
                                 f"Input() and layer calls), got {type(t).__name__}")
        self.inputs, self.outputs = list(inputs), list(outputs)
        input_ids = {id(t) for t in self.inputs}
        finished, in_progress, post_order, layer_index = set(), set(), [], {}

        def visit(tensor):
            node = tensor.node
            if id(node) in finished:
                return
            if id(node) in in_progress:
                raise ValueError(f"[{owner}] the graph has a cycle at layer {node.layer.name}")
            layer_index.setdefault(id(node.layer), len(layer_index))
            in_progress.add(id(node))
            if id(tensor) not in input_ids:
                if not node.input_tensors and getattr(node.layer, "_is_input_layer", False):
                    raise ValueError(f"[{owner}] graph disconnected: the output needs input "
                                     f"{node.layer.name} {tensor.shape}, which is not among the "
                                     f"model's inputs {[t.name for t in self.inputs]}")
                for t in node.input_tensors:
                    visit(t)
            finished.add(id(node))
            in_progress.discard(id(node))
            post_order.append(node)

        for t in self.outputs:
            visit(t)

        # Depths as Keras's map_graph: outputs at 0, each parent deeper than its children, a
        # shared layer at the deepest of its nodes.
        node_depth, layer_depth = {}, {}
        for node in reversed(post_order):
            depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
            layer_depth[id(node.layer)] = depth
            node_depth[id(node)] = depth
            for parent in node.parent_nodes:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
        for t in self.inputs:  # inputs that no output needs still belong to the model
            if id(t.node.layer) not in layer_depth:
                layer_depth[id(t.node.layer)] = 0
                layer_index[id(t.node.layer)] = -1
                post_order.insert(0, t.node)
                node_depth[id(t.node)] = 0
        position = {id(n): i for i, n in enumerate(post_order)}
        layers = {id(n.layer): n.layer for n in post_order}
        self.layers = sorted(layers.values(), key=lambda lay: (-layer_depth[id(lay)],
                                                               layer_index[id(lay)]))
        produced = set()
        self.nodes = []
        for node in sorted(post_order, key=lambda n: (-node_depth[id(n)], position[id(n)])):
            if all(id(t) in input_ids for t in node.outputs) or not node.input_tensors and \
                    getattr(node.layer, "_is_input_layer", False):
                continue
            self.nodes.append(node)
            produced.update(id(t) for t in node.outputs)
        # how many times each tensor is consumed (the softmax/logits shortcut needs one use)
        self.uses = {}
        for node in self.nodes:
            for t in node.input_tensors:
                self.uses[id(t)] = self.uses.get(id(t), 0) + 1
        for t in self.outputs:
            self.uses[id(t)] = self.uses.get(id(t), 0) + 1
        self.node_of_output = [t.node if id(t) in produced else None for t in self.outputs]
        self.token_nodes = self._token_nodes()

    def _token_nodes(self):
        """Ids of the Embedding nodes whose one output is used once, as the positional input
        of a layer that takes TokenRows (recurrent layers with a token op)."""
        out = set()
        for node in self.nodes:
            t = node.inputs
            if (getattr(node.layer, "_token_op", None)
                    and isinstance(t, SymbolicTensor) and t.node is not None
                    and isinstance(t.node.layer, Embedding) and self.uses.get(id(t)) == 1
                    and t.node.layer.activity_regularizer is None):  # that needs the rows
                out.add(id(t.node))
        return out

    # -- forward ---------------------------------------------------------------------------
    def forward(self, input_values, training=False, input_masks=None):
        """(outputs, output masks, cache) for a flat list of input arrays."""
        with outer_call():  # one call: the layers' activity losses start afresh (Keras)
            return self._forward(input_values, training, input_masks)

    def _forward(self, input_values, training, input_masks):
        values, masks = {}, {}
        for i, (t, v) in enumerate(zip(self.inputs, input_values)):
            values[id(t)] = v
            if input_masks is not None and input_masks[i] is not None:
                masks[id(t)] = input_masks[i]

        def value_of(leaf):
            return values[id(leaf)] if isinstance(leaf, SymbolicTensor) else leaf

        def mask_of(leaf):
            return masks.get(id(leaf)) if isinstance(leaf, SymbolicTensor) else None

        caches = []
        for node in self.nodes:
            layer = node.layer
            args = map_structure(value_of, node.inputs)
            kwargs = dict(node.kwargs)
            for k in node.tensor_kwargs:
                kwargs[k] = map_structure(value_of, node.kwargs[k])
            in_mask = structure_mask(node.inputs, mask_of) if masks else None
            extra = keyword_masks(layer, {k: node.kwargs[k] for k in node.tensor_kwargs},
                                  lambda v: structure_mask(v, mask_of)) if masks else {}
            flag = training if node.training is None else bool(node.training)
            if fold_embeddings and id(node) in self.token_nodes:
                out, cache = layer.forward_tokens(args)
            else:
                out, cache = run_forward(layer, args, training=flag, mask=in_mask, **kwargs,
                                         **extra)
            caches.append(cache)
            if node.multi:
                flat = flatten(out)
                for t, v in zip(node.outputs, flat):
                    values[id(t)] = v
            else:
                values[id(node.outputs[0])] = out
            out_mask = layer.compute_mask(args, in_mask, **kwargs)
            if out_mask is not None:
                flat_masks = flatten(out_mask) if isinstance(out_mask, (list, tuple)) else \
                    [out_mask]
                for t, m in zip(node.outputs, flat_masks):
                    if m is not None:
                        masks[id(t)] = m
        outputs = [values[id(t)] for t in self.outputs]
        return outputs, [masks.get(id(t)) for t in self.outputs], caches

    # -- backward --------------------------------------------------------------------------
    def backward(self, caches, d_outputs, need_input_grads=False):
        """({id(variable): (variable, grad)}, [grad per input or None]) from output gradients
        (None = zeros). Gradients of a tensor used several times sum, so do those of a shared
        layer's weights."""
        grads = {}
        for t, d in zip(self.outputs, d_outputs):
            if d is not None:
                _accumulate(grads, id(t), d)
        needed = self._needs_backward(need_input_grads)
        var_grads = {}
        for node, cache, need in zip(reversed(self.nodes), reversed(caches), reversed(needed)):
            d_outs = [grads.pop(id(t), None) for t in node.outputs]
            if not need or all(d is None for d in d_outs) and not has_activity(cache):
                continue
            d = pack_like(node.out_structure, d_outs) if node.multi else d_outs[0]
            d_args, pairs = run_backward(node.layer, cache, d)
            for var, g in pairs:
                entry = var_grads.get(id(var))
                if entry is None:
                    var_grads[id(var)] = (var, g)
                else:
                    var_grads[id(var)] = (var, entry[1] + g)
            if d_args:
                _scatter(node.inputs, d_args.get("inputs"), grads)
                for k in node.tensor_kwargs:
                    _scatter(node.kwargs[k], d_args.get(k), grads)
        return var_grads, [grads.get(id(t)) for t in self.inputs]

    def _needs_backward(self, need_input_grads):
        """Per node: does any trainable weight (or, for a nested model, an input) lie upstream?"""
        flags = {id(t): need_input_grads for t in self.inputs}
        out = []
        for node in self.nodes:
            need = bool(node.layer.trainable_weights) or any(flags.get(id(t), False)
                                                             for t in node.input_tensors)
            for t in node.outputs:
                flags[id(t)] = need
            out.append(need)
        return out


def _accumulate(grads, key, g):
    prev = grads.get(key)
    if prev is None:
        grads[key] = g
    elif isinstance(prev, PreActivationGrad) or isinstance(g, PreActivationGrad):
        raise RuntimeError("a logits gradient met another gradient of the same tensor")
    else:
        grads[key] = prev + g


def _scatter(template, grad, grads):
    if grad is None:
        return
    if isinstance(template, SymbolicTensor):
        _accumulate(grads, id(template), grad)
    elif isinstance(template, (list, tuple)) and isinstance(grad, (list, tuple)):
        for t, g in zip(template, grad):
            _scatter(t, g, grads)
    elif isinstance(template, dict) and isinstance(grad, dict):
        for k, t in template.items():
            _scatter(t, grad.get(k), grads)
