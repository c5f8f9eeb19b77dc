# SPDX-License-Identifier: GPL-2.0-or-later
"""Packaging for pyvma: a Python/cffi test harness around the kernel's mm/vma.c."""

from setuptools import setup

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
    packages=["pyvma", "vma_internal"],
    install_requires=["cffi>=1.15", "pycparser", "pytest", "pytest-xdist", "hypothesis"],
    entry_points={"console_scripts": ["pyvma=pyvma.cli:main"],
                  "pytest11": ["pyvma.pytest_plugin = pyvma.pytest_plugin"]},
)
