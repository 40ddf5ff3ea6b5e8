// Counters of the whole host that benches read before and after a phase.
#pragma once

#include <cstdint>

namespace cascade {

// CPU seconds this host has spent so far, every process and the kernel
// (user, nice, system, irq and softirq of /proc/stat's first line). On H
// cores no schedule runs a phase in less than its CPU / H.
double host_cpu_seconds();

// CPU seconds of this process so far, all its threads. On a host shared
// with other work it counts only what this process ran, unlike wall time.
double process_cpu_seconds();

// Bytes sent over the loopback interface so far (/proc/net/dev: every
// packet, TCP/IP, TLS, HTTP/2 and protobuf framing included); -1 if unknown.
int64_t loopback_tx_bytes();

}  // namespace cascade
