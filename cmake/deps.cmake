# External libraries, all from Debian packages (scripts/setup.sh installs them).
# Each becomes an IMPORTED target dep::<name>; modules link only the ones they may use.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

foreach(spec
    "uring:liburing" "jemalloc:jemalloc" "zstd:libzstd" "snappy:snappy" "hs:libhs"
    "protobufc:libprotobuf-c" "curl:libcurl" "pcre2:libpcre2-8" "cmocka:cmocka"
    "xxhash:libxxhash" "yaml:yaml-0.1" "zlib:zlib" "deflate:libdeflate")
  string(REPLACE ":" ";" parts "${spec}")
  list(GET parts 0 name)
  list(GET parts 1 module)
  pkg_check_modules(${name} REQUIRED IMPORTED_TARGET ${module})
  add_library(dep::${name} ALIAS PkgConfig::${name})
endforeach()

# CRoaring ships no pkg-config file in Debian.
find_library(ROARING_LIB roaring REQUIRED)
find_path(ROARING_INCLUDE roaring/roaring.h REQUIRED)
add_library(dep_roaring INTERFACE)
target_link_libraries(dep_roaring INTERFACE ${ROARING_LIB})
target_include_directories(dep_roaring SYSTEM INTERFACE ${ROARING_INCLUDE})
add_library(dep::roaring ALIAS dep_roaring)

find_program(PROTOC_C protoc-c REQUIRED)
