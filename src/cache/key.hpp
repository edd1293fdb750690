#pragma once
// The cache key (docs/middleware.md "cache"): the URL part is scheme, normalised host (lower
// case, default port dropped, any other port kept) and normalised path, then the query as the
// route says (all as received, none, or the named parameters sorted by name); the extras are the
// route's extra key headers ("accept-language=en"). Nothing else of the request takes part, so
// an unkeyed header (X-Forwarded-Host, X-Original-URL, ...) cannot change what a key serves.
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gatehouse/http/fields.hpp"

namespace gatehouse::cache {

struct key_settings {
    enum class query_mode { all, none, named } query = query_mode::all;
    std::vector<std::string> query_names;  // sorted, for named
    std::vector<std::string> headers;      // lower-case, in config order
};

void build_url(std::string& out, bool secure, std::string_view host, std::string_view path, std::string_view query, const key_settings& k);
void build_extras(std::string& out, http::field_list fields, const key_settings& k);
// An absolute URL as an operator or a Location field writes it, in the store's URL form
// (lower-case scheme and host, default port dropped); empty when it is not http(s)://host/...
std::string normalise_url(std::string_view url);

}  // namespace gatehouse::cache
