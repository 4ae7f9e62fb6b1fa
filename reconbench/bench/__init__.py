"""reconbench.bench"""
