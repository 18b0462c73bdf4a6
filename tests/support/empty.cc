// Keeps kith_test_support a valid library before any helper exists.
