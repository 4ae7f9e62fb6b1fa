"""reconbench.metrics"""
