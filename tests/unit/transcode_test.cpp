// routes[].grpc_transcode's translation core: google.api.http path templates (parse, match), the
// rules read from a real descriptor set (tests/grpc/protos/bookstore.proto compiled by protoc at
// build time), the request message built from path, query and body, the response and error JSON.
#include <gtest/gtest.h>

#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include "gatehouse/config/config.hpp"
#include "grpc/status.hpp"
#include "transcode/http_template.hpp"
#include "transcode/request_fields.hpp"
#include "transcode/service_set.hpp"
#include "transcode/transcode_config.hpp"
#include "transcode/translate.hpp"
#include "util/read_file.hpp"

using namespace gatehouse::transcode;
using nlohmann::json;

namespace {

http_template parsed(std::string_view text) {
    std::string error;
    auto t = parse_http_template(text, error);
    EXPECT_TRUE(t) << text << ": " << error;
    return t ? *t : http_template{};
}

std::string parse_error(std::string_view text) {
    std::string error;
    EXPECT_FALSE(parse_http_template(text, error)) << text;
    return error;
}

std::shared_ptr<const service_set> bookstore() {
    static std::shared_ptr<const service_set> set = [] {
        std::string error;
        auto s = service_set::load(GATEHOUSE_BOOKSTORE_PB, {"bookstore.Bookstore"}, error);
        EXPECT_TRUE(s) << error;
        return s;
    }();
    return set;
}

// The request message a REST request becomes, as JSON (proto field names), or "error: ...".
std::string request_json(std::string_view method, std::string_view target, std::string_view body = {}, bool ignore_unknown = false) {
    const auto q = target.find('?');
    const auto path = target.substr(0, q);
    const auto query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    bound_values values;
    const auto* b = bookstore()->match(method, path, values);
    if (b == nullptr) return "no rule";
    std::string framed, error;
    if (!encode_request(*bookstore(), *b, values, query, body, ignore_unknown, framed, error)) return "error: " + error;
    EXPECT_GE(framed.size(), 5u);
    EXPECT_EQ(framed[0], '\0');
    std::string out;
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    const auto st = google::protobuf::util::BinaryToJsonString(&bookstore()->resolver(), type_url(b->method->input_type()->full_name()),
                                                               framed.substr(5), &out, print);
    EXPECT_TRUE(st.ok()) << st.message();
    return b->method->name() + " " + json::parse(out).dump();  // keys sorted: the wire order is not the point
}

// `expected` ("Method {json}") with its JSON in the same canonical form.
std::string canonical(std::string_view expected) {
    const auto space = expected.find(' ');
    return std::string(expected.substr(0, space)) + " " + json::parse(expected.substr(space + 1)).dump();
}

std::string frame(const std::string& message) {
    std::string out(1, '\0');
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((message.size() >> shift) & 0xff);
    return out + message;
}

// A message of `type` from JSON, as bytes.
std::string message_bytes(const std::string& type, const std::string& json_text) {
    std::string out;
    const auto st = google::protobuf::util::JsonToBinaryString(&bookstore()->resolver(), type_url(type), json_text, &out);
    EXPECT_TRUE(st.ok()) << st.message();
    return out;
}

const binding& binding_of(std::string_view method_name) {
    for (const auto& b : bookstore()->bindings()) {
        if (b.method->name() == method_name) return b;
    }
    ADD_FAILURE() << method_name;
    return bookstore()->bindings().front();
}

}  // namespace

TEST(HttpTemplate, ParsesEveryFormOfTheGrammar) {
    auto t = parsed("/v1/shelves/{shelf}/books/{book.id}");
    ASSERT_EQ(t.segments.size(), 5u);
    ASSERT_EQ(t.variables.size(), 2u);
    EXPECT_EQ(t.variables[1].field_path, "book.id");
    EXPECT_EQ(t.variables[1].first, 4u);
    EXPECT_EQ(t.variables[1].last, 5u);
    t = parsed("/v1/{name=shelves/*/books/*}:publish");
    EXPECT_EQ(t.verb, "publish");
    EXPECT_EQ(t.variables[0].first, 1u);
    EXPECT_EQ(t.variables[0].last, 5u);
    EXPECT_EQ(t.literal_count(), 3u);
    t = parsed("/v1/files/{path=**}");
    EXPECT_EQ(t.segments.back().what, http_template::kind::any_rest);
    t = parsed("/v1/*/x/**");
    EXPECT_EQ(t.segments[1].what, http_template::kind::any_one);
    EXPECT_TRUE(parsed("/").segments.empty());
}

TEST(HttpTemplate, RefusesMalformedTemplatesWithAReason) {
    EXPECT_NE(parse_error("v1/x").find("starts with '/'"), std::string::npos);
    EXPECT_NE(parse_error("/v1/**/x").find("last segment"), std::string::npos);
    EXPECT_NE(parse_error("/v1/{a={b}}").find("nest"), std::string::npos);
    EXPECT_NE(parse_error("/v1/{a}/{a}").find("bound twice"), std::string::npos);
    EXPECT_NE(parse_error("/v1/{a").find("not closed"), std::string::npos);
    EXPECT_NE(parse_error("/v1/{1a}").find("names a field"), std::string::npos);
    EXPECT_NE(parse_error("/v1//x").find("empty"), std::string::npos);
    EXPECT_NE(parse_error("/v1/x:").find("verb"), std::string::npos);
    EXPECT_FALSE(parse_error("/v1/x/").empty());
}

TEST(HttpTemplate, MatchesAndDecodesVariables) {
    bound_values v;
    EXPECT_TRUE(match_http_template(parsed("/v1/shelves/{shelf}/books/{book}"), "/v1/shelves/1/books/a%20b", v));
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0], (std::pair<std::string, std::string>{"shelf", "1"}));
    EXPECT_EQ(v[1].second, "a b");
    EXPECT_FALSE(match_http_template(parsed("/v1/shelves/{shelf}"), "/v1/shelves/", v));
    EXPECT_FALSE(match_http_template(parsed("/v1/shelves/{shelf}"), "/v1/shelves/1/x", v));
    // A variable over several segments keeps an escaped '/' escaped; a single one decodes it.
    EXPECT_TRUE(match_http_template(parsed("/v1/{name=shelves/*/books/*}"), "/v1/shelves/a%2Fb/books/2", v));
    EXPECT_EQ(v[0].second, "shelves/a%2Fb/books/2");
    EXPECT_TRUE(match_http_template(parsed("/v1/{id}"), "/v1/a%2Fb", v));
    EXPECT_EQ(v[0].second, "a/b");
    EXPECT_TRUE(match_http_template(parsed("/v1/files/{path=**}"), "/v1/files/a/b/c.txt", v));
    EXPECT_EQ(v[0].second, "a/b/c.txt");
    EXPECT_TRUE(match_http_template(parsed("/v1/files/{path=**}"), "/v1/files", v));
    EXPECT_EQ(v[0].second, "");
    EXPECT_TRUE(match_http_template(parsed("/v1/{b}:publish"), "/v1/7:publish", v));
    EXPECT_EQ(v[0].second, "7");
    EXPECT_FALSE(match_http_template(parsed("/v1/{b}:publish"), "/v1/7", v));
    EXPECT_FALSE(match_http_template(parsed("/v1/{b}"), "/v1/%zz", v));
    EXPECT_TRUE(match_http_template(parsed("/"), "/", v));
}

TEST(TranscodeServices, ReadsEveryRuleOfTheDescriptorSet) {
    auto set = bookstore();
    ASSERT_TRUE(set);
    // 15 methods, one without a rule, one with an additional binding.
    EXPECT_EQ(set->bindings().size(), 15u);
    const auto& fail = binding_of("Fail");
    EXPECT_EQ(fail.http_method, "POST");
    EXPECT_EQ(fail.grpc_path, "/bookstore.Bookstore/Fail");
    EXPECT_TRUE(binding_of("StreamBooks").server_streaming);
    EXPECT_EQ(binding_of("SearchBooks").response_body, "books");
}

TEST(TranscodeServices, RefusesWhatCannotServe) {
    std::string error;
    EXPECT_FALSE(service_set::load(GATEHOUSE_BOOKSTORE_PB, {"bookstore.Nope"}, error));
    EXPECT_NE(error.find("bookstore.Nope is not in the descriptor set"), std::string::npos) << error;
    EXPECT_FALSE(service_set::load("/nonexistent.pb", {"x"}, error));
    EXPECT_NE(error.find("cannot read"), std::string::npos);
    EXPECT_FALSE(service_set::from_bytes("\xff\xff\xff", {"x"}, error));
    EXPECT_NE(error.find("FileDescriptorSet"), std::string::npos);
}

TEST(TranscodeRequest, PathVariablesQueryAndBody) {
    EXPECT_EQ(request_json("GET", "/v1/shelves/3/books/7"), canonical(R"(GetBook {"shelf":"3","book":"7"})"));
    EXPECT_EQ(request_json("GET", "/v1/books/7"), canonical(R"(GetBook {"book":"7"})"));
    EXPECT_EQ(request_json("GET", "/v2/shelves/3/books/7"), canonical(R"(GetBookByName {"name":"shelves/3/books/7"})"));
    EXPECT_EQ(request_json("GET", "/v1/files/a/b.txt"), canonical(R"(GetFile {"path":"a/b.txt"})"));
    EXPECT_EQ(request_json("POST", "/v1/shelves/3/books", R"({"title":"Dune","author":{"name":"Herbert"}})"),
              canonical(R"(CreateBook {"shelf":"3","book":{"title":"Dune","author":{"name":"Herbert"}}})"));
    // The path's book.id wins over the body's.
    EXPECT_EQ(request_json("PATCH", "/v1/shelves/3/books/9", R"({"id":"1","title":"T"})"),
              canonical(R"(UpdateBook {"shelf":"3","book":{"id":"9","title":"T"}})"));
    EXPECT_EQ(request_json("POST", "/v1/shelves/3/books/7:publish", R"({"notify":true,"channelName":"x"})"),
              canonical(R"(PublishBook {"shelf":"3","book":"7","notify":true,"channel_name":"x"})"));
    EXPECT_EQ(request_json("POST", "/v1/types", R"({"note":"n"})"), canonical(R"(EchoTypes {"note":"n"})"));
    EXPECT_EQ(request_json("DELETE", "/v1/shelves/3/books/7"), canonical(R"(DeleteBook {"shelf":"3","book":"7"})"));
    EXPECT_EQ(request_json("GET", "/v1/shelves/3/books:stream?count=2"), canonical(R"(StreamBooks {"shelf":"3","count":2})"));
    EXPECT_EQ(request_json("PUT", "/v1/shelves/3"), "no rule");
    EXPECT_EQ(request_json("GET", "/v3/x"), "no rule");
}

TEST(TranscodeRequest, QueryParametersIntoNestedAndRepeatedFields) {
    EXPECT_EQ(request_json("GET", "/v1/search?tags=a&tags=b+c&filter.author.name=Le%20Guin&filter.minYear=1960&kind=SCIENCE&limit=5&exact=true&ids=1&ids=2"),
              canonical(R"(SearchBooks {"tags":["a","b c"],"filter":{"author":{"name":"Le Guin"},"min_year":1960},"kind":"SCIENCE","limit":5,"exact":true,"ids":["1","2"]})"));
    EXPECT_EQ(request_json("GET", "/v1/search?kind=1"), canonical(R"(SearchBooks {"kind":"FICTION"})"));
    EXPECT_EQ(request_json("GET", "/v1/search?nope=1"), "error: query parameter 'nope': 'nope' is no field of bookstore.SearchBooksRequest");
    EXPECT_EQ(request_json("GET", "/v1/search?nope=1&tags=a", {}, true), canonical(R"(SearchBooks {"tags":["a"]})"));
    EXPECT_EQ(request_json("GET", "/v1/search?exact=maybe").substr(0, 6), "error:");
    EXPECT_EQ(request_json("GET", "/v1/search?filter=x").substr(0, 6), "error:");
    EXPECT_EQ(request_json("GET", "/v1/search?tags=%zz").substr(0, 6), "error:");
    EXPECT_EQ(request_json("GET", "/v1/search?filter.minYear=abc").substr(0, 6), "error:");
    // Not UTF-8 (a lone byte, an overlong '/', a surrogate): refused, never thrown on.
    EXPECT_EQ(request_json("GET", "/v1/search?tags=%ff"), "error: query parameter 'tags': the value of 'tags' is not UTF-8");
    EXPECT_EQ(request_json("GET", "/v1/search?tags=%C0%AF").substr(0, 6), "error:");
    EXPECT_EQ(request_json("GET", "/v1/search?tags=%ED%A0%80").substr(0, 6), "error:");
    EXPECT_EQ(request_json("GET", "/v1/search?tags=%E2%82%AC"), canonical(R"(SearchBooks {"tags":["\u20ac"]})"));
    EXPECT_EQ(request_json("GET", "/v1/shelves/1/books/2?x=%ff").substr(0, 6), "error:");
}

TEST(TranscodeRequest, BadBodiesAndUnknownFieldsAreErrors) {
    EXPECT_EQ(request_json("POST", "/v1/shelves/3/books", "{not json").substr(0, 6), "error:");
    EXPECT_EQ(request_json("POST", "/v1/types", "{not json").substr(0, 6), "error:");
    EXPECT_EQ(request_json("POST", "/v1/types", R"({"nope":1})").substr(0, 6), "error:");
    EXPECT_EQ(request_json("POST", "/v1/shelves/3/books/7:publish", "[1]").substr(0, 6), "error:");
}

// A body that is the whole request (body "*", no path or query values) of a type without
// well-known types is written by our own walk (pb_json_encode); the bytes are libprotobuf's, and
// what the walk declines (an error, a repeated name) libprotobuf decides and words.
TEST(TranscodeRequest, AWholeBodyOfPlainTypesIsWalkedWithLibprotobufsResult) {
    EXPECT_TRUE(binding_of("Fail").walk_request);
    EXPECT_TRUE(binding_of("CreateBook").walk_request);
    EXPECT_TRUE(binding_of("ListShelves").walk_request);  // google.protobuf.Empty: a plain message
    EXPECT_FALSE(binding_of("EchoTypes").walk_request);   // Timestamp, Struct, wrappers
    EXPECT_FALSE(binding_of("SearchBooks").walk_request);  // a wrapper one level down
    const auto& fail = binding_of("Fail");
    const auto walked = [&](std::string_view body) {
        std::string framed, error;
        EXPECT_TRUE(encode_request(*bookstore(), fail, {}, {}, body, false, framed, error)) << body << ": " << error;
        return framed;
    };
    EXPECT_EQ(walked(R"({"code":5,"message":"m","field":"f"})"), frame(message_bytes("bookstore.FailRequest", R"({"code":5,"message":"m","field":"f"})")));
    EXPECT_EQ(walked(""), frame(""));
    EXPECT_EQ(walked(R"({"code":"7","code":8})"), frame(message_bytes("bookstore.FailRequest", R"({"code":"7","code":8})")));
    std::string framed, error;
    EXPECT_FALSE(encode_request(*bookstore(), fail, {}, {}, R"({"code":1,"nope":2})", false, framed, error));
    EXPECT_NE(error.find("nope"), std::string::npos) << error;  // libprotobuf's words
    EXPECT_FALSE(encode_request(*bookstore(), fail, {}, {}, R"({"code":2147483648})", false, framed, error));
    EXPECT_FALSE(error.empty());
}

TEST(TranscodeRequest, WellKnownTypes) {
    const auto body = R"({"at":"2024-05-01T10:00:00Z","took":"1.500s","note":"n","count":"12","extra":{"a":[1,"x",null]},"flag":false,"ratio":0.5})";
    const auto got = request_json("POST", "/v1/types", body);
    ASSERT_EQ(got.substr(0, 10), "EchoTypes ");
    EXPECT_EQ(json::parse(got.substr(10)), json::parse(body));
}

TEST(TranscodeResponse, UnaryStreamingAndResponseBody) {
    print_options print;
    std::string out, error;
    const auto book = message_bytes("bookstore.Book", R"({"id":"7","title":"Dune","tags":["sf"]})");
    ASSERT_TRUE(decode_response(*bookstore(), binding_of("GetBook"), frame(book), print, out, error)) << error;
    EXPECT_EQ(out, R"({"id":"7","title":"Dune","tags":["sf"]})");
    ASSERT_TRUE(decode_response(*bookstore(), binding_of("StreamBooks"), frame(book) + frame(book), print, out, error)) << error;
    EXPECT_EQ(json::parse(out).size(), 2u);
    ASSERT_TRUE(decode_response(*bookstore(), binding_of("StreamBooks"), "", print, out, error)) << error;
    EXPECT_EQ(out, "[]");
    const auto found = message_bytes("bookstore.SearchBooksResponse", R"({"books":[{"title":"A"}],"query":"q"})");
    ASSERT_TRUE(decode_response(*bookstore(), binding_of("SearchBooks"), frame(found), print, out, error)) << error;
    EXPECT_EQ(out, R"([{"title":"A"}])");
    print.preserve_proto_field_names = true;
    print.always_print_primitive_fields = true;
    const auto shelf = message_bytes("bookstore.StatsResponse", "{}");
    ASSERT_TRUE(decode_response(*bookstore(), binding_of("GetShelf"), frame(message_bytes("bookstore.Shelf", R"({"id":"1"})")), print, out, error));
    EXPECT_EQ(out, R"({"id":"1","theme":""})");
    EXPECT_FALSE(decode_response(*bookstore(), binding_of("GetBook"), "", print, out, error));
    EXPECT_FALSE(decode_response(*bookstore(), binding_of("GetBook"), frame(book).substr(0, 7), print, out, error));
    EXPECT_FALSE(decode_response(*bookstore(), binding_of("GetBook"), frame(book) + frame(book), print, out, error));
    EXPECT_FALSE(decode_response(*bookstore(), binding_of("GetBook"), "\x01\0\0\0\0", print, out, error));
    (void)shelf;
}

TEST(TranscodeResponse, AStreamBecomesArrayElementsAsEachMessageCompletes) {
    print_options print;
    const auto& b = binding_of("StreamBooks");
    const auto one = frame(message_bytes("bookstore.Book", R"({"id":"1","title":"first"})"));
    const auto two = frame(message_bytes("bookstore.Book", R"({"id":"2"})"));
    response_stream stream(*bookstore(), b, print, 1024);
    std::string json, error;
    // A message cut across pieces (inside its prefix, then inside its bytes) comes out whole.
    ASSERT_TRUE(stream.feed(one.substr(0, 3), json, error)) << error;
    EXPECT_EQ(json, "");
    EXPECT_FALSE(stream.at_boundary());
    ASSERT_TRUE(stream.feed(one.substr(3, 4), json, error)) << error;
    EXPECT_EQ(json, "");
    ASSERT_TRUE(stream.feed(one.substr(7) + two.substr(0, 6), json, error)) << error;
    EXPECT_EQ(json, R"([{"id":"1","title":"first"})");
    EXPECT_EQ(stream.messages(), 1u);
    json.clear();
    ASSERT_TRUE(stream.feed(two.substr(6), json, error)) << error;
    EXPECT_EQ(json, R"(,{"id":"2"})");
    EXPECT_TRUE(stream.at_boundary());
    EXPECT_EQ(stream.messages(), 2u);
}

TEST(TranscodeResponse, AStreamRefusesMessagesOverItsLimitBeforeHoldingThem) {
    print_options print;
    response_stream stream(*bookstore(), binding_of("StreamBooks"), print, 16);
    std::string json, error;
    const auto big = frame(message_bytes("bookstore.Book", R"({"title":"a title longer than sixteen bytes"})"));
    EXPECT_FALSE(stream.feed(big.substr(0, 5), json, error));
    EXPECT_NE(error.find("larger than 16"), std::string::npos) << error;
    response_stream compressed(*bookstore(), binding_of("StreamBooks"), print, 0);
    EXPECT_FALSE(compressed.feed(std::string("\x01\0\0\0\0", 5), json, error));
}

TEST(TranscodeResponse, ErrorsMapToHttpWithDetails) {
    EXPECT_EQ(gatehouse::grpc::to_http_status(0), 200);
    EXPECT_EQ(gatehouse::grpc::to_http_status(3), 400);
    EXPECT_EQ(gatehouse::grpc::to_http_status(5), 404);
    EXPECT_EQ(gatehouse::grpc::to_http_status(7), 403);
    EXPECT_EQ(gatehouse::grpc::to_http_status(8), 429);
    EXPECT_EQ(gatehouse::grpc::to_http_status(12), 501);
    EXPECT_EQ(gatehouse::grpc::to_http_status(14), 503);
    EXPECT_EQ(gatehouse::grpc::to_http_status(16), 401);
    EXPECT_EQ(gatehouse::grpc::to_http_status(13), 500);
    print_options print;
    const auto status = message_bytes(
        "google.rpc.Status",
        R"({"code":3,"message":"bad","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"title","description":"empty"}]}]})");
    const auto body = json::parse(error_body(*bookstore(), 3, "bad title", status, print));
    EXPECT_EQ(body["code"], 3);
    EXPECT_EQ(body["message"], "bad title");
    ASSERT_EQ(body["details"].size(), 1u);
    EXPECT_EQ(body["details"][0]["@type"], "type.googleapis.com/google.rpc.BadRequest");
    EXPECT_EQ(body["details"][0]["fieldViolations"][0]["field"], "title");
    EXPECT_EQ(json::parse(error_body(*bookstore(), 5, "gone", "", print))["details"], json::array());
}

TEST(TranscodeResponse, DetailsOfUnknownTypesKeepTheirTypeUrl) {
    // A set without google/rpc: the Status type gatehouse adds itself, details it cannot print.
    auto bytes = gatehouse::util::read_file(GATEHOUSE_BOOKSTORE_PB);
    ASSERT_TRUE(bytes);
    std::string error;
    auto set = service_set::from_bytes(*bytes, {}, error);
    ASSERT_TRUE(set) << error;
    // Status{code:3, details:[Any{type_url:"type.googleapis.com/x.Unknown", value:"\x08\x01"}]}
    const std::string url = "type.googleapis.com/x.Unknown";
    std::string any = "\x0a" + std::string(1, static_cast<char>(url.size())) + url + "\x12\x02\x08\x01";
    std::string status = "\x08\x03\x1a" + std::string(1, static_cast<char>(any.size())) + any;
    const auto body = json::parse(error_body(*set, 3, "m", status, print_options{}));
    ASSERT_EQ(body["details"].size(), 1u);
    EXPECT_EQ(body["details"][0]["@type"], url);
}

namespace {

gatehouse::config::load_result load_transcode(const std::string& transcode, const std::string& protocol = "h2c") {
    return gatehouse::config::load_string(
        "listeners: [{ name: p, listen: 127.0.0.1:1 }]\n"
        "upstreams: [{ name: books, protocol: " + protocol + ", discovery: { static: [127.0.0.1:1] } }]\n"
        "routes:\n"
        "  - name: rest\n"
        "    upstream: books\n"
        "    grpc_transcode:\n" + transcode,
        "test.yaml");
}

}  // namespace

TEST(TranscodeConfig, LoadsTheSetAndItsOptions) {
    const auto r = load_transcode("      descriptor_set: " GATEHOUSE_BOOKSTORE_PB "\n      services: [bookstore.Bookstore]\n"
                                  "      print: { preserve_proto_field_names: true }\n      passthrough_unmatched: true\n");
    ASSERT_TRUE(r.config) << r.diags.to_string();
    const auto& t = *r.config->routes[0].grpc_transcode;
    EXPECT_TRUE(t.print.preserve_proto_field_names);
    EXPECT_FALSE(t.print.add_whitespace);
    EXPECT_TRUE(t.passthrough_unmatched);
    EXPECT_FALSE(t.ignore_unknown_query_parameters);
    ASSERT_TRUE(t.loaded);
    EXPECT_EQ(t.loaded->bindings().size(), 15u);
}

TEST(TranscodeConfig, ErrorsPointAtTheKey) {
    auto r = load_transcode("      descriptor_set: /nonexistent.pb\n      services: [bookstore.Bookstore]\n");
    EXPECT_FALSE(r.config);
    EXPECT_NE(r.diags.to_string().find("test.yaml:7:23: routes[0].grpc_transcode.descriptor_set: cannot read the descriptor set /nonexistent.pb"),
              std::string::npos)
        << r.diags.to_string();
    r = load_transcode("      descriptor_set: " GATEHOUSE_BOOKSTORE_PB "\n      services: [bookstore.Nope]\n");
    EXPECT_NE(r.diags.to_string().find("test.yaml:8:17: routes[0].grpc_transcode.services: the service bookstore.Nope is not in the descriptor set"),
              std::string::npos)
        << r.diags.to_string();
    r = load_transcode("      descriptor_set: " GATEHOUSE_BOOKSTORE_PB "\n      services: [bookstore.Bookstore]\n", "http1");
    EXPECT_NE(r.diags.to_string().find("routes[0].grpc_transcode: the upstream 'books' speaks HTTP/1.1"), std::string::npos)
        << r.diags.to_string();
    r = load_transcode("      descriptor_set: " GATEHOUSE_BOOKSTORE_PB "\n      services: [bookstore.Bookstore]\n      typo: 1\n");
    EXPECT_NE(r.diags.to_string().find("typo"), std::string::npos) << r.diags.to_string();
    r = load_transcode("      services: [bookstore.Bookstore]\n");
    EXPECT_NE(r.diags.to_string().find("grpc_transcode.descriptor_set: required"), std::string::npos) << r.diags.to_string();
}
