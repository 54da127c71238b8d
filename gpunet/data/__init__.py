"""Data: the digits shipped with the package, MNIST from local IDX files, tiny generators, and the DataLoader.

The UCI 8×8 handwritten digits (``load_digits``) come from the UCI Machine Learning Repository, "Optical
Recognition of Handwritten Digits", E. Alpaydin and C. Kaynak (1998), https://doi.org/10.24432/C50P49,
licensed under Creative Commons Attribution 4.0 (CC BY 4.0).
"""
from ._split import train_test_split
from .digits import load_digits
from .collate import default_collate
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .loader import DataLoader
from .mnist import IDXFormatError, load_mnist, read_idx
from .synthetic import make_spiral, make_xor

__all__ = ["load_digits", "load_mnist", "read_idx", "IDXFormatError", "make_xor", "make_spiral",
           "train_test_split", "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate"]
