# Third-party packages, all from Debian's archive (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)   # module mode: Debian ships no protobuf CMake config
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
find_package(benchmark CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)    # SHA-256 for block identity
find_package(prometheus-cpp CONFIG REQUIRED)  # the services' /metrics
