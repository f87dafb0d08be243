# The libraries behind storesync's backend adapters, as imported targets that
# the adapter targets link:
#
#   storesync_deps::sqlite3   libsqlite3 (CMake's FindSQLite3)
#   storesync_deps::pqxx      libpqxx and libpq (libpqxx's own CMake package
#                             when it ships one, else the headers and
#                             libraries by name, as Debian's libpqxx 6 needs)
#   storesync_deps::hiredis   hiredis (the headers and library by name)
#   storesync_deps::duckdb    duckdb.h and libduckdb (not packaged by Debian):
#                             looked for in STORESYNC_DUCKDB_DIR (a CMake or
#                             environment variable naming a folder that holds
#                             both), then in the HINTS given, then on the system
#
# Each is defined only when found; STORESYNC_<NAME>_FOUND (SQLITE, POSTGRES,
# REDIS, DUCKDB) says which, and STORESYNC_<NAME>_MISSING says what is missing.
# storesync's CMakeLists.txt (add_subdirectory) and storesyncConfig.cmake
# (find_package) both include this file, so the two routes find alike.
include_guard(GLOBAL)

# Called by storesync_find_adapter_deps: sets STORESYNC_<NAME>_FOUND, and
# STORESYNC_<NAME>_MISSING when `target` is absent, for its caller.
macro(_storesync_dep_result NAME target missing)
  if(TARGET ${target})
    set(STORESYNC_${NAME}_FOUND TRUE PARENT_SCOPE)
  else()
    set(STORESYNC_${NAME}_FOUND FALSE PARENT_SCOPE)
    set(STORESYNC_${NAME}_MISSING "${missing}" PARENT_SCOPE)
  endif()
endmacro()

# storesync_find_adapter_deps([GLOBAL] [DUCKDB_HINTS dir...])
#   GLOBAL: make the imported targets visible to the whole build (needed when
#   storesync is a subdirectory and a parent links its adapter targets).
function(storesync_find_adapter_deps)
  cmake_parse_arguments(arg "GLOBAL" "" "DUCKDB_HINTS" ${ARGN})
  set(scope)
  if(arg_GLOBAL)
    set(scope GLOBAL)
  endif()

  # SQLite
  if(NOT TARGET storesync_deps::sqlite3)
    find_package(SQLite3 QUIET)
    if(SQLite3_FOUND)
      add_library(storesync_deps::sqlite3 INTERFACE IMPORTED ${scope})
      set_target_properties(storesync_deps::sqlite3 PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${SQLite3_INCLUDE_DIRS}"
        INTERFACE_LINK_LIBRARIES "${SQLite3_LIBRARIES}")
    endif()
  endif()
  _storesync_dep_result(SQLITE storesync_deps::sqlite3 "libsqlite3 not found (Debian: libsqlite3-dev)")

  # PostgreSQL: libpqxx + libpq
  if(NOT TARGET storesync_deps::pqxx)
    find_package(libpqxx CONFIG QUIET)
    if(TARGET libpqxx::pqxx)
      add_library(storesync_deps::pqxx INTERFACE IMPORTED ${scope})
      set_target_properties(storesync_deps::pqxx PROPERTIES INTERFACE_LINK_LIBRARIES libpqxx::pqxx)
    else()
      find_path(STORESYNC_PQXX_INCLUDE_DIR pqxx/pqxx)
      find_library(STORESYNC_PQXX_LIBRARY pqxx)
      find_library(STORESYNC_PQ_LIBRARY pq)
      mark_as_advanced(STORESYNC_PQXX_INCLUDE_DIR STORESYNC_PQXX_LIBRARY STORESYNC_PQ_LIBRARY)
      if(STORESYNC_PQXX_INCLUDE_DIR AND STORESYNC_PQXX_LIBRARY AND STORESYNC_PQ_LIBRARY)
        add_library(storesync_deps::pqxx INTERFACE IMPORTED ${scope})
        set_target_properties(storesync_deps::pqxx PROPERTIES
          INTERFACE_INCLUDE_DIRECTORIES "${STORESYNC_PQXX_INCLUDE_DIR}"
          INTERFACE_LINK_LIBRARIES "${STORESYNC_PQXX_LIBRARY};${STORESYNC_PQ_LIBRARY}")
      endif()
    endif()
  endif()
  _storesync_dep_result(POSTGRES storesync_deps::pqxx "libpqxx and libpq not found (Debian: libpqxx-dev)")

  # Redis: hiredis
  if(NOT TARGET storesync_deps::hiredis)
    find_path(STORESYNC_HIREDIS_INCLUDE_DIR hiredis/hiredis.h)
    find_library(STORESYNC_HIREDIS_LIBRARY hiredis)
    mark_as_advanced(STORESYNC_HIREDIS_INCLUDE_DIR STORESYNC_HIREDIS_LIBRARY)
    if(STORESYNC_HIREDIS_INCLUDE_DIR AND STORESYNC_HIREDIS_LIBRARY)
      add_library(storesync_deps::hiredis INTERFACE IMPORTED ${scope})
      set_target_properties(storesync_deps::hiredis PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${STORESYNC_HIREDIS_INCLUDE_DIR}"
        INTERFACE_LINK_LIBRARIES "${STORESYNC_HIREDIS_LIBRARY}")
    endif()
  endif()
  _storesync_dep_result(REDIS storesync_deps::hiredis "hiredis not found (Debian: libhiredis-dev)")

  # DuckDB (C API)
  if(NOT TARGET storesync_deps::duckdb)
    set(duckdb_dirs)
    if(STORESYNC_DUCKDB_DIR)
      list(APPEND duckdb_dirs "${STORESYNC_DUCKDB_DIR}")
    endif()
    if(DEFINED ENV{STORESYNC_DUCKDB_DIR})
      list(APPEND duckdb_dirs "$ENV{STORESYNC_DUCKDB_DIR}")
    endif()
    list(APPEND duckdb_dirs ${arg_DUCKDB_HINTS})
    find_path(STORESYNC_DUCKDB_INCLUDE_DIR duckdb.h HINTS ${duckdb_dirs})
    find_library(STORESYNC_DUCKDB_LIBRARY duckdb HINTS ${duckdb_dirs})
    mark_as_advanced(STORESYNC_DUCKDB_INCLUDE_DIR STORESYNC_DUCKDB_LIBRARY)
    if(STORESYNC_DUCKDB_INCLUDE_DIR AND STORESYNC_DUCKDB_LIBRARY)
      add_library(storesync_deps::duckdb UNKNOWN IMPORTED ${scope})
      set_target_properties(storesync_deps::duckdb PROPERTIES
        IMPORTED_LOCATION "${STORESYNC_DUCKDB_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${STORESYNC_DUCKDB_INCLUDE_DIR}")
    endif()
  endif()
  _storesync_dep_result(DUCKDB storesync_deps::duckdb "duckdb.h and libduckdb not found; set \
STORESYNC_DUCKDB_DIR to a folder holding both (storesync's scripts/setup.sh puts them in \
third_party/duckdb/dist)")
endfunction()
