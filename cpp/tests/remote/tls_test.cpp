// TLS on the transport: certificates are made here, with OpenSSL, in a
// temporary directory: a CA, leaf certificates it signs, and a second CA
// and leaf that the first does not trust.

#include "atomr/remote/tcp_transport.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <gtest/gtest.h>
#include <mutex>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string>
#include <vector>

namespace atomr::remote {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

struct key_and_cert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~key_and_cert() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(ext, nullptr);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A P-256 key and a certificate for it, signed by `issuer` (self-signed if null).
void make(key_and_cert& out, const char* cn, const key_and_cert* issuer, bool ca) {
  static long serial = 1;
  out.key = EVP_EC_gen("P-256");
  ASSERT_NE(out.key, nullptr);
  out.cert = X509_new();
  X509_set_version(out.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(out.cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(out.cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(out.cert), 86400);
  X509_set_pubkey(out.cert, out.key);
  X509_NAME* name = X509_get_subject_name(out.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* issuer_cert = issuer ? issuer->cert : out.cert;
  X509_set_issuer_name(out.cert, X509_get_subject_name(issuer_cert));
  if (ca) {
    add_ext(out.cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(out.cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  }
  ASSERT_GT(X509_sign(out.cert, issuer ? issuer->key : out.key, EVP_sha256()), 0);
}

void write_pem(const fs::path& path, const key_and_cert& kc, bool key) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  if (key)
    PEM_write_PrivateKey(f, kc.key, nullptr, nullptr, 0, nullptr, nullptr);
  else
    PEM_write_X509(f, kc.cert);
  std::fclose(f);
}

class RemoteTls : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("atomr-remote-tls-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    key_and_cert ca, a, b, rogue_ca, rogue;
    make(ca, "atomr test CA", nullptr, true);
    make(a, "node a", &ca, false);
    make(b, "node b", &ca, false);
    make(rogue_ca, "rogue CA", nullptr, true);
    make(rogue, "rogue", &rogue_ca, false);
    write_pem(dir_ / "ca.pem", ca, false);
    for (auto [name, kc] : {std::pair{"a", &a}, std::pair{"b", &b}, std::pair{"rogue", &rogue}}) {
      write_pem(dir_ / (std::string(name) + ".pem"), *kc, false);
      write_pem(dir_ / (std::string(name) + ".key"), *kc, true);
    }
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  tls_config tls(const std::string& who) const {
    tls_config t;
    t.certificate_chain_file = dir_ / (who + ".pem");
    t.private_key_file = dir_ / (who + ".key");
    t.ca_file = dir_ / "ca.pem";
    return t;
  }

  fs::path dir_;
};

// A started transport and what its callbacks saw.
struct tls_node {
  explicit tls_node(transport_config config) {
    config.reconnect_min_backoff = 10ms;
    config.reconnect_max_backoff = 200ms;
    transport_callbacks cb;
    cb.on_envelope = [this](inbound_envelope&& in) {
      std::lock_guard lock(mu);
      received.push_back(std::move(in.env.payload));
      cv.notify_all();
    };
    cb.on_event = [this](const transport_event& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
      cv.notify_all();
    };
    transport = std::make_unique<tcp_transport>(std::move(config), std::move(cb));
    transport->start();
  }

  bool wait(const std::function<bool()>& pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 60s, pred);
  }

  bool wait_event(event_kind kind) {
    return wait([&] {
      for (const auto& e : events)
        if (e.kind == kind)
          return true;
      return false;
    });
  }

  std::size_t received_count() {
    std::lock_guard lock(mu);
    return received.size();
  }

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> received;
  std::vector<transport_event> events;
  std::unique_ptr<tcp_transport> transport;
};

transport_config named(const char* name) {
  transport_config c;
  c.system_name = name;
  return c;
}

envelope numbered(int i) {
  return envelope{"/user/sink", std::nullopt, "test.Num", std::to_string(i), std::nullopt};
}

TEST_F(RemoteTls, MutualTlsCarriesEnvelopesInOrder) {
  auto ca = named("a");
  ca.tls = tls("a");
  auto cb = named("b");
  cb.tls = tls("b");
  tls_node a(ca);
  tls_node b(cb);
  constexpr int n = 20'000;
  for (int i = 0; i < n; ++i)
    ASSERT_TRUE(a.transport->send(b.transport->address(), numbered(i)));
  b.transport->send(a.transport->address(), numbered(0));
  ASSERT_TRUE(b.wait([&] { return b.received.size() >= n; }));
  ASSERT_TRUE(a.wait([&] { return a.received.size() >= 1; }));
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(b.received[static_cast<std::size_t>(i)], std::to_string(i));
}

TEST_F(RemoteTls, APeerWithoutATrustedCertificateIsRefused) {
  auto cb = named("b");
  cb.tls = tls("b");
  tls_node b(cb);
  // Signed by a CA that b does not trust (and that does not trust b).
  auto cr = named("rogue");
  cr.tls = tls("rogue");
  cr.tls->ca_file = dir_ / "rogue.pem";
  tls_node rogue(cr);
  rogue.transport->send(b.transport->address(), numbered(0));
  ASSERT_TRUE(b.wait_event(event_kind::handshake_refused));
  ASSERT_TRUE(rogue.wait_event(event_kind::connect_failed));
  // A peer speaking plain TCP to a TLS listener gets nowhere either.
  tls_node plain(named("plain"));
  plain.transport->send(b.transport->address(), numbered(1));
  ASSERT_TRUE(plain.wait_event(event_kind::connect_failed));
  EXPECT_EQ(b.received_count(), 0u);
  for (const auto& e : b.events)
    EXPECT_NE(e.kind, event_kind::associated);
}

TEST_F(RemoteTls, MissingOrBadFilesAreRefusedAtConstruction) {
  auto c = named("a");
  c.tls = tls("a");
  c.tls->ca_file = dir_ / "missing.pem";
  EXPECT_THROW(tcp_transport(c, {}), invalid_config_error);
  c.tls = tls("a");
  c.tls->private_key_file.clear();
  EXPECT_THROW(tcp_transport(c, {}), invalid_config_error);
  c.tls = tls("a");
  c.tls->private_key_file = dir_ / "b.key"; // not the certificate's key
  EXPECT_THROW(tcp_transport(c, {}), invalid_config_error);
}

} // namespace
} // namespace atomr::remote
