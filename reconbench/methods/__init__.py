"""reconbench.methods"""
