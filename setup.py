"""Metadata lives in setup.cfg. This file only makes sure setuptools' egg-info lands in
build/ (see [egg_info] in setup.cfg), which must exist before setuptools runs."""

import os

from setuptools import setup

os.makedirs("build", exist_ok=True)
setup()
