#pragma once
// basic_auth's figures for the metrics: password checks (crypt) waiting for or running on the
// hash pool, and requests answered 503 because that queue was full.
#include <cstdint>

namespace gatehouse::middleware {

std::uint64_t basic_auth_hash_rejections();
std::int64_t basic_auth_hash_queue();

}  // namespace gatehouse::middleware
