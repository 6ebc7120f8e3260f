"""Seeds as Keras takes them, turned into NumPy generators."""

import numpy as np


def check_seed(owner, seed):
    """None or any int, negative ones included (as Keras); TypeError naming ``owner`` otherwise."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"[{owner}] seed must be an int or None, got {seed!r}")
    return seed


def seeded_rng(owner, seed):
    """A ``numpy.random.Generator`` for ``seed``: fresh entropy for None. NumPy takes only
    non-negative seeds, so a negative one is taken modulo 2**64 (the same seed, the same draws)."""
    check_seed(owner, seed)
    if seed is not None and seed < 0:
        seed = int(seed) % (1 << 64)
    return np.random.default_rng(seed)
