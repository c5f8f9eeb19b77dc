# SPDX-License-Identifier: GPL-2.0-or-later
"""Ground truth from the running kernel: ``pyvma oracle`` and layouts from /proc.

live.py runs operation sequences as system calls in a forked child and reads the
VMAs back; maps.py parses smaps/maps/PROCMAP_QUERY dumps; load.py rebuilds a
layout in an MM; corpus.py holds the sequences; harness.py runs them on a tree's
mm/vma.c; compare.py and report.py say where the two agree.
"""
