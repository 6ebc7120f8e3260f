"""``model.summary()``: Keras's layer table (Layer (type), Output Shape, Param #, and Connected to
for functional models) and the Total / Trainable / Non-trainable counts with their sizes."""

from ..layers._call import SymbolicTensor, flatten


def _fmt_bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024.0


def _shape_str(layer):
    shapes = []
    for node in getattr(layer, "_inbound_nodes", [])[:1]:
        for t in node.outputs:
            shapes.append(str(t.shape).replace(",)", ")"))
    if not shapes:
        return "?"
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def _connected(layer, model_layers):
    out = []
    for node in getattr(layer, "_inbound_nodes", []):
        # every tensor argument, repeats included (Keras lists mha(x, x) as x, x)
        args = flatten(node.inputs) + flatten([node.kwargs[k] for k in sorted(node.kwargs)])
        for t in args:
            if isinstance(t, SymbolicTensor) and t.node is not None:
                src = t.node.layer
                node_index = src._inbound_nodes.index(t.node) if t.node in src._inbound_nodes \
                    else 0
                out.append(f"{src.name}[{node_index}][{t.index}]")
    # Keras separates several inbound tensors with commas
    return [c + "," for c in out[:-1]] + out[-1:] if out else ["-"]


def _count(variables):
    return sum(v.value.size for v in variables), sum(v.value.nbytes for v in variables)


def summary_lines(model, line_length=None, print_fn=None):
    functional = not getattr(model, "_is_sequential", False)
    layers = model.layers
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional
                                                             else [])
    rows = []
    for layer in layers:
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        cells = [f"{layer.name} ({type(layer).__name__})", _shape_str(layer), params]
        if functional:
            conn = _connected(layer, layers)
            rows.append(cells + [conn[0]])
            for extra in conn[1:]:
                rows.append(["", "", "", extra])
        else:
            rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    widths = [w + 2 for w in widths]

    def border(left, mid, right, fill):
        return left + mid.join(fill * w for w in widths) + right

    def row(cells, sep="\u2502", right_align=(2,)):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append((" " + c.rjust(w - 2) + " ") if i in right_align else
                       (" " + c.ljust(w - 2) + " "))
        return sep + sep.join(out) + sep

    lines = [f'Model: "{model.name}"',
             border("\u250f", "\u2533", "\u2513", "\u2501"),
             row(headers, "\u2503", right_align=()),
             border("\u2521", "\u2547", "\u2529", "\u2501")]
    for i, r in enumerate(rows):
        lines.append(row(r))
        if i + 1 < len(rows) and (rows[i + 1][0] != ""):
            lines.append(border("\u251c", "\u253c", "\u2524", "\u2500"))
    lines.append(border("\u2514", "\u2534", "\u2518", "\u2500"))
    built = model._graph_ready()
    total, total_b = _count(model.weights) if built else (0, 0)
    train, train_b = _count(model.trainable_weights) if built else (0, 0)
    # Keras counts the optimizer's state too, once it is built (pyseq: once it has stepped)
    opt = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    opt_n, opt_b = opt._state_size() if built and opt is not None and opt._iterations else (0, 0)
    lines.append(f" Total params: {total + opt_n:,} ({_fmt_bytes(total_b + opt_b)})")
    lines.append(f" Trainable params: {train:,} ({_fmt_bytes(train_b)})")
    lines.append(f" Non-trainable params: {total - train:,} ({_fmt_bytes(total_b - train_b)})")
    if opt_n:
        lines.append(f" Optimizer params: {opt_n:,} ({_fmt_bytes(opt_b)})")
    return lines
