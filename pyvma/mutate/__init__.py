# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma mutate``: mutation testing of a tree's mm/vma.c, mm/vma_exec.c,
mm/vma_init.c and the VMA flag masks of include/linux/mm.h.

Modules, imports running down: ``command`` (the subcommand: plan, campaign, report)
-> ``campaign`` (the pytest plugin: each mutant a pytest item, run under
pytest-xdist, results merged on the controller) -> ``run`` (one mutant: scratch
tree, build, suites, diff; results cached by content) -> ``report`` (per function
and per file, text and JSON) -> ``mutants`` (ids, patches, sampling) ->
``operators`` (the one-line changes) -> ``sites`` (functions, masks, changed lines).
"""
