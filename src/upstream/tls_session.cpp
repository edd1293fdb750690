#include "upstream/tls_session.hpp"

namespace gatehouse::upstream {

namespace {
int slot_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}
}  // namespace

tls_session_slot::~tls_session_slot() {
    if (session_) SSL_SESSION_free(session_);
}

void tls_session_slot::enable(SSL_CTX* ctx) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
}

void tls_session_slot::attach(SSL* ssl) {
    SSL_set_ex_data(ssl, slot_index(), this);
    if (session_ && SSL_SESSION_is_resumable(session_)) SSL_set_session(ssl, session_);
}

int tls_session_slot::on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* slot = static_cast<tls_session_slot*>(SSL_get_ex_data(ssl, slot_index()));
    if (!slot) return 0;
    if (slot->session_) SSL_SESSION_free(slot->session_);
    slot->session_ = session;
    return 1;  // the slot keeps this reference
}

}  // namespace gatehouse::upstream
