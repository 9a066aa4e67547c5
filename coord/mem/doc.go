// Package mem is the embedded coordination adapter: locks with fencing
// tokens and a service registry kept in this process's memory, for a Herald
// that runs as one process. It registers the "mem://" URL scheme.
//
// Each Open("mem://") or New starts its own coordination space, so a process
// must open it once (in its composition root) and share that Coordinator.
// NewSession adds another client to the same space, with its own locks and
// registrations, the way a second node would connect to ZooKeeper or etcd;
// Expire simulates that client losing its session.
//
// It must never be used to coordinate more than one process: nothing it
// holds is visible outside the process, so two processes each "owning" a
// lock through it would both act as its holder.
package mem
