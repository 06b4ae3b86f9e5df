#pragma once

#include "atomr/ddata/replicated_data.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace atomr::ddata {

/// A last-writer-wins register holding bytes. Order: the higher timestamp
/// wins; on a tie the greater node id; on a tie of both the greater value
/// (so merge stays commutative even when a writer reuses a timestamp).
/// The empty register (timestamp 0, node "", no bytes) is the bottom.
class lww_register final : public replicated_data {
public:
  lww_register() = default;
  lww_register(std::string value, std::int64_t timestamp, std::string node);

  /// Microseconds since the Unix epoch by the system clock.
  static std::int64_t now_micros() noexcept;

  /// Writes `value` stamped (`timestamp`, `node`) when that stamp is newer
  /// than the current one; returns whether it was applied.
  bool set(const std::string& value, std::int64_t timestamp, const std::string& node);

  /// Writes `value` stamped with a monotone local clock:
  /// `max(now, current timestamp + 1)`, so it always applies.
  void set_now(const std::string& value, const std::string& node);

  const std::string& value() const noexcept {
    return value_;
  }
  std::int64_t timestamp() const noexcept {
    return timestamp_;
  }
  const std::string& node() const noexcept {
    return node_;
  }
  bool has_value() const noexcept {
    return timestamp_ != 0 || !node_.empty() || !value_.empty();
  }

  type_tag tag() const noexcept override {
    return type_tag::lww_register;
  }
  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  void merge(const replicated_data& other) override;
  std::unique_ptr<replicated_data> delta() const override;
  void reset_delta() noexcept override {
    dirty_ = false;
  }

  /// Whether (`timestamp`, `node`, `value`) beats this register's stamp.
  bool newer(std::int64_t timestamp, const std::string& node, const std::string& value) const;

private:
  friend struct internal::wire_access;

  std::string value_;
  std::int64_t timestamp_ = 0;
  std::string node_;
  bool dirty_ = false;
};

/// A flag that can only be switched on; merge is logical or.
class flag final : public replicated_data {
public:
  void enable() noexcept;
  bool enabled() const noexcept {
    return on_;
  }

  type_tag tag() const noexcept override {
    return type_tag::flag;
  }
  std::unique_ptr<replicated_data> clone() const override;
  std::unique_ptr<replicated_data> empty() const override;
  void merge(const replicated_data& other) override;
  std::unique_ptr<replicated_data> delta() const override;
  void reset_delta() noexcept override {
    dirty_ = false;
  }

private:
  friend struct internal::wire_access;

  bool on_ = false;
  bool dirty_ = false;
};

} // namespace atomr::ddata
