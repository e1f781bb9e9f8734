"""Hypothesis profiles: "ci" (default) keeps the suite fast; HYPOTHESIS_PROFILE=thorough for local runs."""

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
