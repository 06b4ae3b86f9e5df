#include "atomr/core/path.hpp"

#include "atomr/core/error.hpp"

#include <cstring>

namespace atomr::core {

namespace {

constexpr std::size_t max_name_length = 255;

bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_hex(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_name_char(char c) noexcept {
  return is_alnum(c) || (c != '\0' && std::strchr("-_.*$+:@&=,!~';", c) != nullptr);
}

// Index of the first offending byte, or npos.
std::size_t first_bad_name_byte(std::string_view name) noexcept {
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '%') {
      if (i + 2 < name.size() && is_hex(name[i + 1]) && is_hex(name[i + 2])) {
        i += 2;
        continue;
      }
      return i;
    }
    if (!is_name_char(c))
      return i;
  }
  return std::string_view::npos;
}

std::string quoted(std::string_view name) {
  std::string out = "`";
  out.append(name);
  out += '`';
  return out;
}

} // namespace

bool is_valid_actor_name(std::string_view name) noexcept {
  return !name.empty() && name.size() <= max_name_length && name.front() != '$' &&
         first_bad_name_byte(name) == std::string_view::npos;
}

void validate_actor_name(std::string_view name) {
  if (name.empty())
    throw invalid_actor_name_error("actor name must not be empty");
  if (name.size() > max_name_length)
    throw invalid_actor_name_error("actor name " + quoted(name.substr(0, 32)) +
                                   "... is longer than 255 bytes");
  if (name.front() == '$')
    throw invalid_actor_name_error("actor name " + quoted(name) +
                                   " must not start with `$` (reserved for generated names)");
  std::size_t bad = first_bad_name_byte(name);
  if (bad != std::string_view::npos)
    throw invalid_actor_name_error("actor name " + quoted(name) +
                                   " contains an invalid character at " + std::to_string(bad) +
                                   " (allowed: letters, digits, -_.*$+:@&=,!~'; and %XX escapes)");
}

bool is_valid_system_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > max_name_length || !is_alnum(name.front()))
    return false;
  for (char c : name)
    if (!is_alnum(c) && c != '-' && c != '_')
      return false;
  return true;
}

void validate_system_name(std::string_view name) {
  if (!is_valid_system_name(name))
    throw invalid_actor_name_error("actor system name " + quoted(name) +
                                   " is invalid (it must start with a letter or digit and contain "
                                   "only letters, digits, - and _)");
}

std::string child_path(std::string_view parent, std::string_view name) {
  std::string out;
  out.reserve(parent.size() + 1 + name.size());
  out.append(parent);
  out += '/';
  out.append(name);
  return out;
}

std::string anonymous_name(unsigned long long n) {
  // Base 26, least significant digit first: 0 -> $a, 25 -> $z, 26 -> $ab.
  std::string out = "$";
  do {
    out += static_cast<char>('a' + n % 26);
    n /= 26;
  } while (n != 0);
  return out;
}

} // namespace atomr::core
