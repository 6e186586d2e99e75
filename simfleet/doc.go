// Package simfleet serves a simulated fleet on loopback for scale
// benchmarks: every host is a real SSH server (golang.org/x/crypto/ssh,
// its own host key generated per run and written to a known_hosts file
// the controller verifies) on its own 127.x.y.z address, with a fake
// Docker engine (executorstest.Host) reached the way the transport
// reaches a real one (a direct-streamlocal channel to the engine socket),
// and exec handling for what vigo runs remotely: the commands the fake
// engine host answers, and the lock protocol (lockemu.go).
//
// It measures the controller, not the hosts: it is not a Docker or shell
// emulator, and product code never imports it.
package simfleet
