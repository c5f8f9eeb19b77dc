/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pyvma: tools/include/linux/mm.h wants a mmzone.h; the harness has no zones. */
#ifndef PYVMA_LINUX_MMZONE_H
#define PYVMA_LINUX_MMZONE_H
#endif
