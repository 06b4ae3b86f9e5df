#pragma once

#include <string>
#include <string_view>

namespace atomr::core {

/// True when `name` may name an actor: non-empty, at most 255 bytes, made of
/// ASCII letters, digits and `-_.*$+:@&=,!~';` or `%XX` escapes, and not
/// starting with `$` (reserved for names the system generates).
bool is_valid_actor_name(std::string_view name) noexcept;

/// Throws `invalid_actor_name_error`, saying what is wrong, unless valid.
void validate_actor_name(std::string_view name);

/// True when `name` may name an actor system: non-empty, at most 255 bytes,
/// starting with a letter or digit, then letters, digits, `-` and `_`.
bool is_valid_system_name(std::string_view name) noexcept;

/// Throws `invalid_actor_name_error` unless `name` is a valid system name.
void validate_system_name(std::string_view name);

/// The path of a child: `parent + "/" + name`.
std::string child_path(std::string_view parent, std::string_view name);

/// The generated name of the `n`-th anonymous child: `$a`, `$b`, ..., `$z`, `$ab`, ...
std::string anonymous_name(unsigned long long n);

} // namespace atomr::core
