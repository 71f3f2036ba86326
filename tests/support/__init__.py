"""What the tests and benchmarks share: the week simulation of a changing account, and a SeaweedFS server."""
