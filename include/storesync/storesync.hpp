#pragma once
/// \file
/// Umbrella header: everything in //:storesync (core vocabulary, store
/// concepts, memory and fault-injecting stores). Backend adapters have their
/// own headers and targets, e.g. storesync/store/postgres_store.hpp.

#include "storesync/core/checksum.hpp"
#include "storesync/core/entry.hpp"
#include "storesync/core/error.hpp"
#include "storesync/core/result.hpp"
#include "storesync/core/store.hpp"
#include "storesync/store/faulty_store.hpp"
#include "storesync/store/memory_store.hpp"
