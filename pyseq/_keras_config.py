"""Keras's serialised form ``{"module", "class_name", "config", "registered_name"}`` for pyseq's
built-in regularizers, constraints and initializers: one text for all three kinds."""


def serialize_builtin(obj, module, classes):
    """``obj`` in Keras's form when its class is one of ``classes``; None stays None, anything
    else (a custom object or function) is returned as itself."""
    if obj is None:
        return None
    if type(obj) in classes:
        return {"module": module, "class_name": type(obj).__name__,
                "config": obj.get_config(), "registered_name": None}
    return obj


def deserialize_builtin(kind, config, names, known, custom_objects=None):
    """The object of a ``{"class_name": ..., "config": {...}}`` dict: ``custom_objects`` first,
    then ``names`` (class name -> class); ValueError naming ``kind`` otherwise."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"[{kind}s.deserialize] expects a dict with 'class_name' and "
                         f"'config', got {config!r:.80}")
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or names.get(name)
    if cls is None:
        raise ValueError(f"[{kind}s.deserialize] unknown {kind} {name!r}; known: {sorted(known)}")
    return cls.from_config(dict(config.get("config") or {}))


def get_builtin(kind, identifier, names, known, base, deserialize, hint):
    """``get`` for regularizers and constraints: None, a name (``names``), a serialised dict, a
    subclass of ``base`` (instantiated), an instance or any callable; ``hint`` lists the short
    names in the ValueError for an unknown one."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = names.get(identifier)
        if cls is None:
            raise ValueError(f"[{kind}s.get] unknown {kind} {identifier!r}; known: {hint} or a "
                             f"class name ({', '.join(sorted(known))})")
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type):
        if not issubclass(identifier, base):
            raise TypeError(f"[{kind}s.get] a class must subclass {base.__name__}, got "
                            f"{identifier.__name__}")
        return identifier()
    if callable(identifier):
        return identifier
    raise TypeError(f"[{kind}s.get] expects a name, a dict, a {base.__name__} or a callable, got "
                    f"{type(identifier).__name__}: {identifier!r:.60}")
