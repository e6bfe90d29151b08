"""Benchmarks (not tests): throughput and latency, with a baseline in the same run."""
