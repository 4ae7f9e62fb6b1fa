"""reconbench.leaderboard"""
