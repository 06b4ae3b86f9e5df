#pragma once

namespace atomr::persistence {

struct persistent_record;
struct write_outcome;
struct snapshot_record;
struct snapshot_criteria;
struct lmdb_options;
class journal;
class snapshot_store;
class completion_port;
class journal_error;

} // namespace atomr::persistence
