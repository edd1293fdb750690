#include "tls/server_context.hpp"
#include "tls/ticket_keys.hpp"
#include "util/text.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>
#include <ctime>

namespace gatehouse::tls {

namespace {

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

// DNS names of a certificate: subjectAltName DNS entries, or the CN when there are none.
std::vector<std::string> names_of(X509* cert) {
    std::vector<std::string> out;
    auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
            if (n->type != GEN_DNS) continue;
            const unsigned char* data = ASN1_STRING_get0_data(n->d.dNSName);
            out.push_back(util::ascii_lower(
                std::string_view(reinterpret_cast<const char*>(data), static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName)))));
        }
        GENERAL_NAMES_free(sans);
    }
    if (out.empty()) {
        char cn[256] = "";
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) out.push_back(util::ascii_lower(cn));
    }
    return out;
}

// The first of the listener's protocols (`arg`: its ALPN names in order of preference) that
// the client offers; a client that offers none of them gets no ALPN answer (HTTP/1.1 then).
int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen, void* arg) {
    const auto& ours = *static_cast<const std::vector<std::string>*>(arg);
    for (const auto& name : ours) {
        for (unsigned int i = 0; i < inlen;) {
            unsigned int len = in[i];
            if (i + 1 + len > inlen) break;
            if (len == name.size() && std::memcmp(in + i + 1, name.data(), len) == 0) {
                *out = in + i + 1;
                *outlen = static_cast<unsigned char>(len);
                return SSL_TLSEXT_ERR_OK;
            }
            i += 1 + len;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

int sni_select(SSL* ssl, int*, void* arg) {
    auto* self = static_cast<const server_context*>(arg);
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
    if (SSL_CTX* ctx = self->for_name(name); ctx && ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

SSL_CTX* server_context::for_name(std::string_view raw) const {
    std::string name = util::ascii_lower(raw);
    if (!name.empty() && name.back() == '.') name.pop_back();
    for (auto& [n, ctx] : exact_)
        if (n == name) return ctx;
    SSL_CTX* best = nullptr;
    std::size_t best_len = 0;
    // "*.example.com" covers exactly one label: "a.example.com", not "a.b.example.com" (RFC 6125)
    auto dot = name.find('.');
    if (dot != std::string::npos) {
        std::string_view rest(name.data() + dot, name.size() - dot);
        for (auto& [suffix, ctx] : wildcard_)
            if (rest == suffix && suffix.size() > best_len) {
                best = ctx;
                best_len = suffix.size();
            }
    }
    return best;
}

std::vector<std::string> server_context::watched_files() const {
    std::vector<std::string> out;
    for (auto& c : cfg_.certificates) {
        out.push_back(c.cert);
        out.push_back(c.key);
    }
    if (!cfg_.client_ca.empty()) out.push_back(cfg_.client_ca);
    return out;
}

std::shared_ptr<const server_context> server_context::build(const config::listener_tls_config& cfg, const std::string& path,
                                                            config::diagnostics& d) {
    auto sc = std::make_shared<server_context>();
    sc->cfg_ = cfg;
    bool ok = true;
    for (std::size_t i = 0; i < cfg.certificates.size(); ++i) {
        const auto& c = cfg.certificates[i];
        std::string cpath = path + ".certificates[" + std::to_string(i) + "]";
        ssl_ctx_ptr ctx(SSL_CTX_new(TLS_server_method()));
        SSL_CTX_set_min_proto_version(ctx.get(), cfg.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
        SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
        SSL_CTX_set_num_tickets(ctx.get(), 1);  // one resumption ticket per full handshake (OpenSSL sends 2 by default)
        // Resumption is by ticket only (stateless, keys in ticket_keys.cpp), as nginx's default
        // ssl_session_cache none: OpenSSL's server-side cache would keep up to 20 480 sessions per
        // context (tens of MiB) that no worker ever looks up (bench/soak.sh: RSS crept with it).
        SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
        const char* ciphers = cfg.ciphers.empty()
                                  ? "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
                                  : cfg.ciphers.c_str();
        if (SSL_CTX_set_cipher_list(ctx.get(), ciphers) != 1) {
            d.error(cfg.mark, path + ".ciphers", "no usable cipher in '" + std::string(ciphers) + "': " + openssl_error());
            ok = false;
        }
        if (!cfg.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx.get(), cfg.ciphersuites.c_str()) != 1) {
            d.error(cfg.mark, path + ".ciphersuites", "no usable TLS 1.3 suite in '" + cfg.ciphersuites + "'");
            ok = false;
        }
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), c.cert.c_str()) != 1) {
            d.error(cfg.mark, cpath + ".cert", "cannot load certificate '" + c.cert + "': " + openssl_error());
            ok = false;
            continue;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx.get(), c.key.c_str(), SSL_FILETYPE_PEM) != 1) {
            if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
                ERR_clear_error();
                d.error(cfg.mark, cpath, "the key '" + c.key + "' does not match the certificate '" + c.cert + "'");
            } else {
                d.error(cfg.mark, cpath + ".key", "cannot load private key '" + c.key + "': " + openssl_error());
            }
            ok = false;
            continue;
        }
        if (SSL_CTX_check_private_key(ctx.get()) != 1) {
            d.error(cfg.mark, cpath, "the key '" + c.key + "' does not match the certificate '" + c.cert + "'");
            ok = false;
            continue;
        }
        X509* leaf = SSL_CTX_get0_certificate(ctx.get());
        if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
            d.warning(cfg.mark, cpath + ".cert", "certificate '" + c.cert + "' has expired");
        else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
            d.warning(cfg.mark, cpath + ".cert", "certificate '" + c.cert + "' is not valid yet");
        if (!cfg.client_ca.empty()) {
            if (SSL_CTX_load_verify_locations(ctx.get(), cfg.client_ca.c_str(), nullptr) != 1) {
                d.error(cfg.mark, path + ".client_ca", "cannot load CA bundle '" + cfg.client_ca + "': " + openssl_error());
                ok = false;
            } else {
                SSL_CTX_set_client_CA_list(ctx.get(), SSL_load_client_CA_file(cfg.client_ca.c_str()));
                SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | (cfg.client_auth_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
            }
        }
        SSL_CTX_set_alpn_select_cb(ctx.get(), alpn_select, const_cast<std::vector<std::string>*>(&sc->cfg_.alpn));
        // Session IDs are per context; tickets (below) are what most clients resume with.
        SSL_CTX_set_session_id_context(ctx.get(), reinterpret_cast<const unsigned char*>("gatehouse"), 9);
        use_shared_ticket_keys(ctx.get());
        for (auto& n : names_of(leaf)) {
            if (n.starts_with("*.")) sc->wildcard_.emplace_back(n.substr(1), ctx.get());
            else sc->exact_.emplace_back(n, ctx.get());
        }
        sc->contexts_.push_back(std::move(ctx));
    }
    if (!ok || sc->contexts_.empty()) return nullptr;
    // SNI is handled on the default context: it switches the connection to the chosen one.
    SSL_CTX_set_tlsext_servername_callback(sc->default_ctx(), sni_select);
    SSL_CTX_set_tlsext_servername_arg(sc->default_ctx(), sc.get());
    return sc;
}

namespace {

std::chrono::system_clock::time_point time_of(const ASN1_TIME* t) {
    std::tm tm{};
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

}  // namespace

std::vector<server_context::certificate_info> server_context::certificates() const {
    std::vector<certificate_info> out;
    for (std::size_t i = 0; i < contexts_.size(); ++i) {
        X509* leaf = SSL_CTX_get0_certificate(contexts_[i].get());
        if (!leaf) continue;
        out.push_back({i < cfg_.certificates.size() ? cfg_.certificates[i].cert : std::string(), names_of(leaf),
                       time_of(X509_get0_notBefore(leaf)), time_of(X509_get0_notAfter(leaf))});
    }
    return out;
}

peer_identity client_identity(SSL* ssl) {
    peer_identity id;
    X509* cert = SSL_get0_peer_certificate(ssl);
    if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return id;
    id.verified = true;
    char buf[512] = "";
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
    id.subject = buf;
    for (auto& n : names_of(cert)) id.sans += (id.sans.empty() ? "" : ",") + n;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert, EVP_sha256(), md, &len);
    static constexpr char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < len; ++i) {
        id.fingerprint += hex[md[i] >> 4];
        id.fingerprint += hex[md[i] & 15];
    }
    return id;
}

}  // namespace gatehouse::tls
