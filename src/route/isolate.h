/* Network isolation of a child process (the inference engine): a network namespace of its
 * own, with no interface but a loopback that is down, so the engine can reach nothing.
 * Meant for the time between fork() and execve() of a process with other threads: it
 * only makes async-signal-safe calls (no allocation, no stdio). */
#ifndef SG_ROUTE_ISOLATE_H
#define SG_ROUTE_ISOLATE_H

/* Moves the calling process into a new network namespace: directly where it may (root, or
 * CAP_SYS_ADMIN), else inside a new user namespace that maps its own user and group (so it
 * keeps its identity: files it owns stay its own). Returns NULL when the process is in a
 * new network namespace, or a static reason why not. A process that is not dumpable (the
 * gateway clears the flag so that no core dump holds its keys) cannot write its own
 * /proc/self/uid_map: the flag is set for the writes of the maps and cleared again. */
const char *sg_isolate_network(void);

#endif
