# One line per test executable: cascade_test(<file under tests/ without .cc> <libs>)
cascade_test(kernels_test cascade_kernels)
cascade_test(engine_golden_test cascade_engine)
