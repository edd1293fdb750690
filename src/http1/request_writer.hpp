#pragma once
// The HTTP/1.1 client side's request head (request_writer.cpp).
#include <string>

#include "http/forwarded_request.hpp"

namespace gatehouse::http1 {

// Appends the head of `f` in HTTP/1.1 form, ending with the empty line.
void append_request_head(std::string& out, const http::forwarded_request& f);

}  // namespace gatehouse::http1
