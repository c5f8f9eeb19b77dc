# SPDX-License-Identifier: GPL-2.0-or-later
"""What runs on top of the API: operations as data (``ops``), the differential
runner over two builds (``diff``), and the reference model (``model``)."""
