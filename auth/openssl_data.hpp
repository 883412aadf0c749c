// The view OpenSSL's C API takes of bytes held in a string: its data as
// `unsigned char*`. Shared by the auth files that call OpenSSL.
#pragma once

#include <string>
#include <string_view>

namespace mcpgate::auth {

inline const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
inline unsigned char* bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

}  // namespace mcpgate::auth
