// Package stomptest helps test STOMP code: an in-process fake STOMP 1.2
// server (Server) with queue semantics and knobs to misbehave (drop
// connections, go away and come back, fall silent, refuse credentials,
// script every frame), and TLSConfigs for a trusted self-signed pair.
//
// It is for tests only: it must never be imported by production code, and
// the fake server is not a broker to run anything on (no persistence, no
// limits, no security beyond a fixed login). Tests against the real broker
// find it with the bus adapters' shared helper (brokertest.Server).
package stomptest
