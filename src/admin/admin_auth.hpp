#pragma once
// Who may use the admin API (admin.auth): the bearer token check, kept apart from the transport
// so that it is tested without a socket.
#include <string_view>

namespace gatehouse::admin {

// True when `authorization` (an Authorization field's value) is "Bearer <token>" with exactly
// `token`. Both sides are compared as SHA-256 digests with CRYPTO_memcmp, so the time taken says
// nothing about how much of a guess matched, nor about the token's length.
bool bearer_matches(std::string_view authorization, std::string_view token);

// The endpoints that answer without a token and on the probes listener: /-/healthy, /-/ready.
bool is_probe_path(std::string_view path);

}  // namespace gatehouse::admin
