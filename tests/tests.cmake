# One line per test executable: cascade_test(<file under tests/ without .cc> <libs>)
