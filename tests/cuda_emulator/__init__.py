"""A CUDA emulator for the tests: the .cu kernels compiled by g++ and run on the CPU, plus a NumPy-backed CuPy."""
