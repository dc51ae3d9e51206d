// tinyformer/error.hpp: the exception types every part of tinyformer throws.
#pragma once

#include <stdexcept>  // std::runtime_error
#include <string>     // std::string

namespace tinyformer {

// The base of every error tinyformer reports. A message names the operation, what was
// expected and what was found, and the file where there is one.
class error : public std::runtime_error {
public:
    explicit error(const std::string& what) : std::runtime_error(what) {}
};

// A model file that is missing, unreadable, damaged or made for another Config.
class file_error : public error {
public:
    explicit file_error(const std::string& what) : error(what) {}
};

// A training text that cannot be used: missing, not UTF-8, too short, too many characters.
class data_error : public error {
public:
    explicit data_error(const std::string& what) : error(what) {}
};

// A value passed by the caller that is out of its domain (a negative temperature, say).
class usage_error : public error {
public:
    explicit usage_error(const std::string& what) : error(what) {}
};

// Training met a loss or gradient that is not finite.
class divergence_error : public error {
public:
    explicit divergence_error(const std::string& what) : error(what) {}
};

}  // namespace tinyformer
