"""No text function of the service takes long on hostile 256 KiB input: one ticket can never stall a worker."""

from __future__ import annotations

import time

import pytest

from tests.support.adversarial import catalogue, text_functions

# Generous: each function measured at well under 0.5 s on every input here; a quadratic pattern takes minutes.
BOUND_S = 3.0
TEXTS = catalogue()
FUNCTIONS = text_functions()

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_text_function_finishes_quickly_on_every_hostile_text(function):
    FUNCTIONS[function]("warm up")  # a first call builds engines and loads data files once per process
    slow = {}
    for name, text in TEXTS.items():
        started = time.perf_counter()
        FUNCTIONS[function](text)
        took = time.perf_counter() - started
        if took > BOUND_S:
            slow[name] = round(took, 2)
    assert slow == {}, f"{function} took over {BOUND_S} s on: {slow}"
