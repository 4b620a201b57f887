"""Helpers of the test suite (servers, pages, bad inputs, faults, a fake hub): not test files."""
