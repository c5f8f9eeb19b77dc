# SPDX-License-Identifier: GPL-2.0-or-later
"""Packaging for pyvma: a Python/cffi test harness around the kernel's mm/vma.c.

The C glue (csrc/) and the suites (tests/) ship inside the package as
``pyvma/csrc`` and ``pyvma/suites`` (pyvma/paths.py finds them there when it is
installed, beside the package in a checkout): ``pip install .`` then ``pyvma test``
works from any directory.
"""

from setuptools import find_packages, setup

SUITES = ["pyvma.suites"] + [f"pyvma.suites.{p}" for p in find_packages("tests")]

setup(
    name="pyvma",
    version="0.1.0",
    description="Python/cffi test harness that compiles the Linux kernel's mm/vma.c",
    license="GPL-2.0-or-later",
    classifiers=[
        "License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)",
        "Programming Language :: Python :: 3.11",
        "Operating System :: POSIX :: Linux",
    ],
    python_requires=">=3.11",
    packages=[*find_packages(include=["pyvma", "pyvma.*", "vma_internal"]),
              "pyvma.csrc", *SUITES],
    package_dir={"pyvma.csrc": "csrc", "pyvma.suites": "tests"},
    package_data={"pyvma.csrc": ["*.c", "*.h", "include/*.h", "include/*/*.h"],
                  "pyvma.suites": ["*/README.md", "model/regressions/*.json"],
                  "pyvma.mutate": ["equivalents.txt"],
                  "pyvma.oracle": ["scenarios/*.json"]},
    install_requires=["cffi>=1.15", "pycparser", "pytest", "pytest-xdist", "hypothesis"],
    entry_points={"console_scripts": ["pyvma=pyvma.cli:main"],
                  "pytest11": ["pyvma.pytest_plugin = pyvma.pytest_plugin"]},
)
