#pragma once
// One REST request into one gRPC call's message, and the call's answer back into the REST
// answer: the JSON mapping of protobuf through libprotobuf's TypeResolver over the set's pool.
#include <string>
#include <string_view>

#include "transcode/http_template.hpp"

namespace gatehouse::transcode {

class service_set;
struct binding;

struct print_options {
    bool add_whitespace = false;
    bool always_print_primitive_fields = false;
    bool preserve_proto_field_names = false;
};

// The request message's bytes, length-prefixed as a gRPC message (uncompressed), into `framed`:
// the body as `binding.body` says, then the query's parameters, then the path's variables.
// False and the reason in `error` (a 400: bad JSON, an unknown field, a value the field cannot
// take).
bool encode_request(const service_set& set, const binding& b, const bound_values& values, std::string_view query, std::string_view body,
                    bool ignore_unknown_query, std::string& framed, std::string& error);

// A response body of gRPC messages as the client's JSON: a unary method's one message (its
// response_body field when the rule names one), a server-streaming method's messages as an
// array (response_stream, all at once). False and `error` for frames that do not parse (a 502).
bool decode_response(const service_set& set, const binding& b, std::string_view frames, const print_options& print, std::string& json,
                     std::string& error);

// A server-streaming method's answer as it arrives: its gRPC messages, piece by piece however
// the body was cut, into the elements of one JSON array ("[" before the first, "," between; the
// caller closes it). What it holds is at most one message that is not whole yet.
class response_stream {
public:
    // `max_message`: the largest message taken (0: any).
    response_stream(const service_set& set, const binding& b, const print_options& print, std::size_t max_message);
    // The messages `bytes` completes, appended to `json`. False and `error`: a message that does
    // not parse, is compressed, or is larger than max_message.
    bool feed(std::string_view bytes, std::string& json, std::string& error);
    std::size_t messages() const { return count_; }
    // No message is cut short in what was fed.
    bool at_boundary() const { return partial_.empty(); }

private:
    const service_set& set_;
    const binding& b_;
    const print_options& print_;
    std::size_t max_;
    std::size_t count_ = 0;
    std::string partial_, message_, one_;
};

// The JSON body of a gRPC error: {"code", "message", "details"}; the details from the bytes of
// grpc-status-details-bin (a google.rpc.Status, base64-decoded already; empty: none). Details of
// types the set does not know are given as their "@type" alone.
std::string error_body(const service_set& set, int grpc_code, std::string_view message, std::string_view status_details,
                       const print_options& print);

}  // namespace gatehouse::transcode
