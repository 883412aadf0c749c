#include "common/error.hpp"

namespace mcpgate {
namespace {

class category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "mcpgate"; }

  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok: return "success";
      case errc::not_found: return "not found";
      case errc::already_exists: return "already exists";
      case errc::invalid_argument: return "invalid argument";
      case errc::store_failure: return "store failure";
      case errc::crypto_failure: return "crypto failure";
      case errc::io_failure: return "I/O failure";
      case errc::not_supported: return "not supported";
      case errc::storage_full: return "storage full";
      case errc::storage_read_only: return "storage read-only";
      case errc::overloaded: return "overloaded";
    }
    return "unknown mcpgate error";
  }
};

}  // namespace

const boost::system::error_category& mcpgate_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace mcpgate
