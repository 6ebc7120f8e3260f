"""Hypothesis profiles for the test suite.

``ci`` (the default) is reproducible and cheap: a fixed, derandomized set of examples, no
deadline (timings on shared CI machines are noise). ``dev`` draws many more examples and is meant
for hunting bugs locally:

    HYPOTHESIS_PROFILE=dev pytest tests
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    # When a hypothesis test fails, its pytest plugin lazily imports libcst to print a patch with
    # the failing example; on some installs that import itself warns (mypy_extensions.TypedDict is
    # deprecated), and with pyproject's filterwarnings = error the real test failure would be
    # replaced by an INTERNALERROR that aborts the session. Ignore exactly those warnings.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:libcst")
    config.addinivalue_line("filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
