// Intentionally empty: the translation unit of the targets that only build a
// precompiled header (cmake/precompiled_headers.cmake).
