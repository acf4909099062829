"""MNIST CNN pipeline: IDX files -> TSV subsets -> CNN -> metrics and plots."""
