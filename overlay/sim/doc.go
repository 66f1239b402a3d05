// Package sim simulates VitalChain's overlay (package overlay) on a random
// geometric graph: nodes placed uniformly on a square, linked when within
// radio range, HELLO periods with random phases, message loss and delay,
// optional random-waypoint mobility and node crashes. It measures the
// clustering (clusters, sizes, convergence, messages, invariants, churn)
// against the lowest-ID baseline, and the cost of delivering one alert from
// a patient to its provider and its hash to every authority, clustered
// (member -> head -> heads -> member) against a flat overlay in which every
// node floods to every node. It also draws the clusters and the overhead
// against network size with gonum/plot.
//
// A run is deterministic: the same Config gives the same Result.
package sim
