#include "config/config.hpp"

namespace mcpgate::config {

const environment* config::find_environment(std::int64_t id, const project** owner) const {
  for (const project& p : projects) {
    for (const environment& e : p.environments) {
      if (e.id != id) continue;
      if (owner != nullptr) *owner = &p;
      return &e;
    }
  }
  if (owner != nullptr) *owner = nullptr;
  return nullptr;
}

const project* config::find_project(std::int64_t id) const {
  for (const project& p : projects)
    if (p.id == id) return &p;
  return nullptr;
}

}  // namespace mcpgate::config
