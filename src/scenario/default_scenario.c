/* SPDX-License-Identifier: MIT */
/*
 * default_scenario.c - the scenario `virq run` runs when given no file: a NIC with four MSI-X queues
 * and a legacy device on a level INTx line, sharing two vCPUs. It is written as an example file a
 * newcomer can copy (docs/scenarios.md explains every key), and the unit tests load it.
 */
#include "scenario/scenario.h"

const char virq_scenario_default_text[] =
	"# The default scenario: a NIC with four MSI-X queues and a legacy device on a level INTx line,\n"
	"# sharing two vCPUs. Copy it to start your own (docs/scenarios.md lists every key).\n"
	"name: nic-and-legacy\n"
	"description: MSI-X through irqfds and level INTx through a resampling irqfd, side by side\n"
	"vm:\n"
	"  arch: x86_64\n"
	"  vcpus: 2\n"
	"  halt_poll: 0              # halt polling off: a polling vCPU would starve the device threads\n"
	"devices:\n"
	"  - name: nic0\n"
	"    pci: 00:03.0\n"
	"    msix:\n"
	"      vectors: 4             # one per queue; cause k raises vector k\n"
	"      table: { bar: 2, offset: 0x0 }\n"
	"      pba: { bar: 2, offset: 0x800 }\n"
	"    delivery: irqfd          # each vector's VFIO trigger is an irqfd on its MSI route\n"
	"    traffic: { pattern: poisson, rate: 20k/s }\n"
	"  - name: legacy0\n"
	"    pci: 00:04.0\n"
	"    intx: { pin: A }\n"
	"    delivery: resample       # level INTx: a resampling irqfd, and VFIO unmasks the line on EOI\n"
	"    traffic: { pattern: fixed, rate: 2k/s }\n"
	"guest:\n"
	"  - device: nic0\n"
	"    driver: nic              # read status, ack the cause, work, EOI\n"
	"    affinity: [0, 1, 0, 1]   # vCPU of each vector\n"
	"    handler: 2us             # work per interrupt\n"
	"    retarget: every 500ms    # the guest moves its vectors between vCPUs, as irqbalance would\n"
	"  - device: legacy0\n"
	"    driver: intx\n"
	"    handler: 5us\n"
	"run: 3s                      # how long the devices raise interrupts\n"
	"expect:\n"
	"  - lost == 0                # every raise delivered, coalesced or pending\n"
	"  - balanced                 # and each source's counts add up\n";
