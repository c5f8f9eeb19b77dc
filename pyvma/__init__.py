# SPDX-License-Identifier: GPL-2.0-or-later
"""pyvma: a Python/cffi test harness around the Linux kernel's mm/vma.c."""

__version__ = "0.1.0"
