# SPDX-License-Identifier: GPL-2.0-or-later
pytest_plugins = ["pyvma.pytest_plugin"]
