#include "atomr/ddata/replicated_data.hpp"

#include "atomr/core/error.hpp"
#include "atomr/ddata/counters.hpp"
#include "atomr/ddata/maps.hpp"
#include "atomr/ddata/registers.hpp"
#include "atomr/ddata/sets.hpp"
#include "atomr/ddata/wire.hpp"

namespace atomr::ddata {

const char* type_name(type_tag tag) noexcept {
  switch (tag) {
  case type_tag::gcounter:
    return "GCounter";
  case type_tag::pncounter:
    return "PNCounter";
  case type_tag::gset:
    return "GSet";
  case type_tag::orset:
    return "ORSet";
  case type_tag::lww_register:
    return "LwwRegister";
  case type_tag::flag:
    return "Flag";
  case type_tag::ormap:
    return "ORMap";
  case type_tag::lww_map:
    return "LWWMap";
  case type_tag::pncounter_map:
    return "PNCounterMap";
  case type_tag::ormultimap:
    return "ORMultiMap";
  case type_tag::deleted:
    return "Deleted";
  }
  return "unknown";
}

bool is_type_tag(std::uint8_t raw) noexcept {
  return raw >= 1 && raw <= max_type_tag;
}

bool replicated_data::equals(const replicated_data& other) const {
  return tag() == other.tag() && to_bytes(*this) == to_bytes(other);
}

std::unique_ptr<replicated_data> make_empty(type_tag tag) {
  switch (tag) {
  case type_tag::gcounter:
    return std::make_unique<gcounter>();
  case type_tag::pncounter:
    return std::make_unique<pncounter>();
  case type_tag::gset:
    return std::make_unique<gset>();
  case type_tag::orset:
    return std::make_unique<orset>();
  case type_tag::lww_register:
    return std::make_unique<lww_register>();
  case type_tag::flag:
    return std::make_unique<flag>();
  case type_tag::lww_map:
    return std::make_unique<lww_map>();
  case type_tag::pncounter_map:
    return std::make_unique<pncounter_map>();
  case type_tag::ormultimap:
    return std::make_unique<ormultimap>();
  case type_tag::deleted:
    return std::make_unique<deleted_data>();
  case type_tag::ormap:
    break;
  }
  throw type_mismatch_error("an empty ORMap needs its value type; construct ormap(value_type)");
}

std::unique_ptr<replicated_data> deleted_data::clone() const {
  return std::make_unique<deleted_data>();
}

std::unique_ptr<replicated_data> deleted_data::empty() const {
  return std::make_unique<deleted_data>();
}

void deleted_data::merge(const replicated_data& other) {
  internal::check_same_type(type_tag::deleted, other);
}

namespace internal {

void check_same_type(type_tag expected, const replicated_data& other) {
  if (other.tag() != expected)
    throw type_mismatch_error(std::string("cannot merge a ") + type_name(other.tag()) + " into a " +
                              type_name(expected));
}

void check_prune_ids(const std::string& removed, const std::string& collapse_into) {
  if (removed.empty() || collapse_into.empty())
    throw core::invalid_argument_error("pruning needs two non-empty replica ids");
  if (removed == collapse_into)
    throw core::invalid_argument_error("cannot prune replica `" + removed + "` into itself");
}

} // namespace internal

} // namespace atomr::ddata
