#include "atomr/remote/transport.hpp"

#include <utility>

namespace atomr::remote {

namespace {

class tcp_adapter final : public transport {
public:
  tcp_adapter(transport_config config, transport_callbacks callbacks)
    : tcp_(std::move(config), std::move(callbacks)) {
  }

  void start() override {
    tcp_.start();
  }
  void stop() override {
    tcp_.stop();
  }
  std::string address() const override {
    return tcp_.address();
  }
  std::uint64_t uid() const noexcept override {
    return tcp_.uid();
  }
  bool send(std::string_view to, const envelope& env) override {
    return tcp_.send(to, env);
  }
  transport_stats stats() const override {
    return tcp_.stats();
  }

private:
  tcp_transport tcp_;
};

} // namespace

std::unique_ptr<transport> make_tcp_transport(transport_config config,
                                              transport_callbacks callbacks) {
  return std::make_unique<tcp_adapter>(std::move(config), std::move(callbacks));
}

} // namespace atomr::remote
