"""Hand-built test data: BData files with the ds001506 key layout, written with h5py."""
