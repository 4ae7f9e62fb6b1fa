"""reconbench.baselines"""
