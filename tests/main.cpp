// tests/main.cpp: doctest's main; every tests/test_*.cpp adds its cases to this executable.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
