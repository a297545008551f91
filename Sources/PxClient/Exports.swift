// The client API speaks of engines, their status and the cluster's events in PxModel's terms, so a
// program that imports PxClient has them without importing anything below it.
@_exported import PxModel
