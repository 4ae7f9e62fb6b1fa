"""reconbench.datasets.ds001506: the preprocessed BData files of Shen et al. (2019), and anything in their layout."""
