# Third-party packages, all from Debian's archive (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)   # module mode: Debian ships no protobuf CMake config
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
find_package(benchmark CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)    # SHA-256 for block identity
find_package(prometheus-cpp CONFIG REQUIRED)  # the services' /metrics
# The OpenAI-compatible HTTP front (router/http/): cpp-httplib's compiled
# library (Debian splits it into a header and libcpp-httplib.so, with its
# build's OPENSSL/ZLIB/BROTLI defines in the .pc file) and nlohmann-json.
find_package(PkgConfig REQUIRED)
pkg_check_modules(CPP_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
find_package(nlohmann_json 3 CONFIG REQUIRED)
